import type { LookupAddress, LookupOneOptions } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import { KEY_MAX_LENGTH, redactExcerpt, type WebhookHeaders } from '@gatehouse/core';
import { type Dispatcher, Pool } from 'undici';
import type { WebhookTarget } from './webhook-url-guard.js';

/** What one HTTP attempt came to. `statusCode` is null when no response arrived. */
export interface DeliveryResult {
  statusCode: number | null;
  latencyMs: number;
  /** at most 1 KiB of the response body, secrets redacted */
  excerpt: string | null;
  /**
   * a stable code for a failure: no usable response, a redirect, or `timeout` when the total
   * timeout ran out, also after the status came (a 2xx whose body stalls is not a success: the
   * receiver may not have finished with it, so it is sent again)
   */
  errorCode: string | null;
  /** a receiver's `Retry-After`, in ms */
  retryAfterMs: number | undefined;
}

export interface DeliveryRequest {
  target: WebhookTarget;
  headers: Record<string, string> | WebhookHeaders;
  body: string;
  /** whose keep-alive pool to use (the endpoint's id): endpoints on one origin do not share connections */
  pool?: string;
}

export interface DeliveryClientOptions {
  connectTimeoutMs?: number;
  /** the whole attempt: connect, send, response headers and the excerpt */
  totalTimeoutMs?: number;
  /** connections kept per (pool, origin, address) */
  connectionsPerOrigin?: number;
  keepAliveMs?: number;
}

const EXCERPT_BYTES = 1024;
/** read past the excerpt by the longest key, so that a key the cut would halve is redacted whole */
const READ_BYTES = EXCERPT_BYTES + KEY_MAX_LENGTH;
/** attempts started within this many ms share one timeout signal (see `#deadline`) */
const DEADLINE_SLOT_MS = 100;

/** the attempts under way that share one timeout */
type Deadline = Set<Attempt>;

function poolKey(target: WebhookTarget, name: string): string {
  return `${name}|${target.url.origin}|${target.address}`;
}
const MAX_POOLS = 1000;

/**
 * Sends webhook requests with undici over keep-alive pools. Every connection goes to the
 * address the SSRF guard checked (`target.address`): the pool's lookup returns it instead of
 * asking DNS again, so a rebinding resolver cannot swap it; the URL's host still names the
 * Host header and the TLS server name. Redirects are never followed (undici's request does
 * not), and a 3xx counts as a failure.
 */
export class DeliveryClient {
  readonly #pools = new Map<string, Pool>();
  /** each target's pool and request path, worked out once (a target serves many attempts) */
  readonly #routes = new WeakMap<WebhookTarget, { pool: Pool; path: string }>();
  readonly #options: Required<DeliveryClientOptions>;
  #slot: { slot: number; deadline: Deadline } | undefined;

  /** the bound on the DNS lookup before an attempt: the connect timeout, or the total if shorter */
  get lookupTimeoutMs(): number {
    return Math.min(this.#options.connectTimeoutMs, this.#options.totalTimeoutMs);
  }

  constructor(options: DeliveryClientOptions = {}) {
    this.#options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      totalTimeoutMs: options.totalTimeoutMs ?? 15_000,
      connectionsPerOrigin: options.connectionsPerOrigin ?? 4,
      keepAliveMs: options.keepAliveMs ?? 30_000,
    };
  }

  /**
   * One attempt, through an undici dispatch handler (see `Attempt`): no response stream, no
   * promise per step, the status and the first KiB read as they arrive.
   */
  send(request: DeliveryRequest): Promise<DeliveryResult> {
    const route = this.#route(request.target, request.pool ?? '');
    const attempt = new Attempt(this.#deadline(performance.now()));
    route.pool.dispatch(
      {
        method: 'POST',
        path: route.path,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhooks/1',
          ...request.headers,
        },
        body: request.body,
      },
      attempt,
    );
    return attempt.result;
  }

  /**
   * The deadline of an attempt started at `now`: attempts started in the same
   * DEADLINE_SLOT_MS share one, which aborts those still running when the last of them has had
   * its total timeout. A timer per attempt costs more than the rest of the request.
   */
  #deadline(now: number): Deadline {
    const slot = Math.floor(now / DEADLINE_SLOT_MS);
    if (this.#slot?.slot === slot) return this.#slot.deadline;
    const deadline: Deadline = new Set();
    const delay = (slot + 1) * DEADLINE_SLOT_MS - now + this.#options.totalTimeoutMs;
    setTimeout(() => {
      for (const attempt of deadline) attempt.timeOut();
      deadline.clear();
    }, delay).unref();
    this.#slot = { slot, deadline };
    return deadline;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  #route(target: WebhookTarget, name: string): { pool: Pool; path: string } {
    let route = this.#routes.get(target);
    // a pool closed since (evicted, or the client closed) is replaced
    if (route === undefined || route.pool.closed || route.pool.destroyed) {
      route = { pool: this.#pool(target, name), path: `${target.url.pathname}${target.url.search}` };
      this.#routes.set(target, route);
    }
    return route;
  }

  #pool(target: WebhookTarget, name: string): Pool {
    const key = poolKey(target, name);
    let pool = this.#pools.get(key);
    if (pool) return pool;
    if (this.#pools.size >= MAX_POOLS) {
      const [oldestKey, oldest] = this.#pools.entries().next().value as [string, Pool];
      this.#pools.delete(oldestKey);
      void oldest.close().catch(() => {});
    }
    const { address, family } = target;
    pool = new Pool(target.url.origin, {
      connections: this.#options.connectionsPerOrigin,
      keepAliveTimeout: this.#options.keepAliveMs,
      headersTimeout: this.#options.totalTimeoutMs,
      bodyTimeout: this.#options.totalTimeoutMs,
      connect: {
        timeout: this.#options.connectTimeoutMs,
        // The pinned address: no second DNS lookup for this connection.
        lookup: ((
          _host: string,
          options: LookupOneOptions & { all?: boolean },
          callback: (...args: unknown[]) => void,
        ) => {
          if (options?.all) callback(null, [{ address, family } satisfies LookupAddress]);
          else callback(null, address, family);
        }) as never,
      },
    });
    this.#pools.set(key, pool);
    return pool;
  }
}

/**
 * One attempt as an undici dispatch handler: resolves `result` with the status, the latency,
 * at most 1 KiB of the body, redacted (read a key's length further, so that a key the cut
 * falls inside is still redacted whole; then the connection is let go, not read to the end),
 * and a receiver's Retry-After; or with a stable error code when no usable answer came.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly result: Promise<DeliveryResult>;
  readonly #started = performance.now();
  readonly #deadline: Deadline;
  #resolve!: (result: DeliveryResult) => void;
  #controller: Dispatcher.DispatchController | null = null;
  #statusCode: number | null = null;
  #retryAfter: string | undefined;
  #chunks: Buffer[] | null = null;
  #size = 0;
  #timedOut = false;
  /** the body ended: the excerpt was not cut */
  #whole = false;
  #done = false;

  constructor(deadline: Deadline) {
    this.#deadline = deadline;
    deadline.add(this);
    this.result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** the shared deadline passed: abort (the outcome is a timeout) */
  timeOut(): void {
    if (this.#done) return;
    this.#timedOut = true;
    const err = new Error('webhook attempt timed out');
    if (this.#controller) this.#controller.abort(err);
    else this.#fail(err);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#timedOut) controller.abort(new Error('webhook attempt timed out'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // 1xx: the real answer follows
    this.#statusCode = statusCode;
    this.#retryAfter = headerValue(headers['retry-after']);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    const part = chunk.length > READ_BYTES - this.#size ? chunk.subarray(0, READ_BYTES - this.#size) : chunk;
    if (this.#chunks === null) this.#chunks = [part];
    else this.#chunks.push(part);
    this.#size += part.length;
    if (this.#size >= READ_BYTES) {
      // enough: the rest is not read, and the connection goes with it
      this.#succeed();
      controller.abort(new Error('webhook response excerpt read'));
    }
  }

  onResponseEnd(): void {
    this.#whole = true;
    this.#succeed();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    // a body cut short after its status still leaves the status and the excerpt read so far
    // (and a timeout that cut it is said so: see #succeed)
    if (this.#statusCode !== null) this.#succeed();
    else this.#fail(err);
  }

  #succeed(): void {
    if (this.#done) return;
    this.#done = true;
    this.#deadline.delete(this);
    const statusCode = this.#statusCode as number;
    const isRedirect = statusCode >= 300 && statusCode < 400;
    this.#resolve({
      statusCode,
      latencyMs: performance.now() - this.#started,
      excerpt: this.#excerpt(),
      errorCode: this.#timedOut ? 'timeout' : isRedirect ? 'redirect_not_followed' : null,
      retryAfterMs: parseRetryAfter(this.#retryAfter),
    });
  }

  #fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#deadline.delete(this);
    this.#resolve({
      statusCode: null,
      latencyMs: performance.now() - this.#started,
      excerpt: null,
      errorCode: this.#timedOut ? 'timeout' : errorCodeOf(err),
      retryAfterMs: undefined,
    });
  }

  #excerpt(): string | null {
    const chunks = this.#chunks;
    if (chunks === null || this.#size === 0) return null;
    let text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
    if (!this.#whole) text = text.replace(/\uFFFD+$/, ''); // a character the cut split
    const excerpt = redactExcerpt(text, EXCERPT_BYTES, this.#whole);
    return excerpt === '' ? null : excerpt;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `Retry-After` as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect_timeout';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'ECONNREFUSED':
      return 'connection_refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection_reset';
    default:
      if (typeof code === 'string' && (code.startsWith('ERR_TLS') || code.includes('CERT')))
        return 'tls_error';
      return 'connection_error';
  }
}
