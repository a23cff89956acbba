import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { keptHeaders, storedResponse } from './stored-response.js';
import type { StoredResponse } from './types.js';
import { downstreamResponseHeaders } from './upstream-request-headers.js';

/**
 * One request's trip to the upstream and its answer's way back to the client, as an undici
 * dispatch handler: the answer is written to the client as it arrives (status and headers,
 * then each chunk, with the upstream paused while the client is slow), with no stream objects
 * in between — measured at less than half the CPU of `pool.stream()` piping into the response.
 * A small answer that arrives at once leaves in one write (Node corks the response within a
 * tick). When the client goes away first, the upstream request is aborted.
 *
 * With `keepUpTo` set it also keeps a copy of the answer (up to that many bytes) for
 * idempotent replay, and such a request outlives its client: the upstream may already have
 * acted (a payment made), so its answer is still read to the end and kept, and the client's
 * retry with the same Idempotency-Key is answered with it instead of running again.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  /** the upstream's status, 0 until it answered */
  status = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private readonly kept: Buffer[] | null;
  private keptBytes = 0;
  private overCap = false;
  private keptHeaders: Record<string, string | string[]> = {};
  private settled = false;
  private resolve!: (status: number) => void;
  private reject!: (err: Error) => void;
  /** resolves with the status once the answer was handed to the client; rejects on an upstream failure */
  readonly done: Promise<number>;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
    private readonly gatewayHeaders: Record<string, string>,
    private readonly keepUpTo: number | null,
  ) {
    this.kept = keepUpTo === null ? null : [];
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    res.once('close', this.onClientClose);
  }

  /** the client went away before its answer was complete (the upstream request was aborted for it) */
  clientGone = false;

  private readonly onClientClose = (): void => {
    if (this.settled) return;
    if (this.kept !== null) {
      // nobody reads any more: let the upstream finish into the copy kept for replay
      this.res.removeListener('drain', this.onDrain);
      this.controller?.resume();
      return;
    }
    this.clientGone = true;
    this.controller?.abort(new Error('client closed the connection'));
  };

  private readonly onDrain = (): void => {
    this.controller?.resume();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed && this.kept === null) {
      this.clientGone = true;
      controller.abort(new Error('client closed the connection'));
    }
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // An informational answer (102 Processing, 103 Early Hints) comes before the real one: it is
    // not passed on (the client's answer can have only one head), the final one follows.
    if (statusCode < 200) return;
    this.status = statusCode;
    const out = downstreamResponseHeaders(headers, this.requestId, this.gatewayHeaders);
    if (this.kept !== null) this.keptHeaders = keptHeaders(out);
    if (this.res.destroyed) return;
    this.res.writeHead(statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const kept = this.kept;
    if (kept !== null && !this.overCap) {
      this.keptBytes += chunk.length;
      if (this.keptBytes > (this.keepUpTo as number)) {
        this.overCap = true;
        kept.length = 0;
      } else kept.push(chunk);
    }
    if (this.res.destroyed) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  onResponseEnd(): void {
    this.settled = true;
    this.res.removeListener('close', this.onClientClose);
    if (!this.res.destroyed) this.res.end();
    this.resolve(this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settled = true;
    this.res.removeListener('close', this.onClientClose);
    this.reject(err);
  }

  /** The answer to keep for replay, or null when it was not kept or too large to keep. */
  stored(): StoredResponse | null {
    if (this.kept === null || this.overCap) return null;
    return storedResponse(this.status, this.keptHeaders, Buffer.concat(this.kept));
  }
}
