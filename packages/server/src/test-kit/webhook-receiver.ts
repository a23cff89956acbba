import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  path: string;
  receivedAt: number;
}

/** What the receiver answers a request with: a status, an optional body and delay. */
export type ReceiverReply = {
  status: number;
  body?: string;
  delayMs?: number;
  headers?: Record<string, string>;
  /** send the status and the body, then never end the response (a body that stalls) */
  stall?: boolean;
};

/** A webhook receiver on 127.0.0.1 for tests: records every request and answers as told. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  reply: (request: ReceivedWebhook, index: number) => ReceiverReply = () => ({ status: 200, body: 'ok' });
  active = 0;
  maxActive = 0;
  #server: Server | undefined;
  #waiters: { count: number; resolve: () => void }[] = [];

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const hit: ReceivedWebhook = {
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          path: req.url ?? '',
          receivedAt: Date.now(),
        };
        const index = this.received.length;
        this.received.push(hit);
        this.active++;
        this.maxActive = Math.max(this.maxActive, this.active);
        const answer = this.reply(hit, index);
        setTimeout(() => {
          this.active--;
          res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
          if (answer.stall) res.write(answer.body ?? '');
          else res.end(answer.body ?? '');
          for (const w of this.#waiters.filter((x) => this.received.length >= x.count)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve();
          }
        }, answer.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Resolves once `count` requests have been answered. */
  waitFor(count: number): Promise<void> {
    if (this.received.length >= count && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
