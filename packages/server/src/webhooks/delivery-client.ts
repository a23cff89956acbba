import type { LookupAddress, LookupOneOptions } from 'node:dns';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { redactSecrets, type WebhookHeaders } from '@gatehouse/core';
import { Pool } from 'undici';
import type { WebhookTarget } from './webhook-url-guard.js';

/** What one HTTP attempt came to. `statusCode` is null when no response arrived. */
export interface DeliveryResult {
  statusCode: number | null;
  latencyMs: number;
  /** at most 1 KiB of the response body, secrets redacted */
  excerpt: string | null;
  /** a stable code for a failure without a usable response */
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
/** attempts started within this many ms share one timeout signal (see `#deadline`) */
const DEADLINE_SLOT_MS = 100;

type Deadline = EventEmitter & { timedOut: boolean };

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
  #slot: { slot: number; emitter: Deadline } | undefined;

  constructor(options: DeliveryClientOptions = {}) {
    this.#options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      totalTimeoutMs: options.totalTimeoutMs ?? 15_000,
      connectionsPerOrigin: options.connectionsPerOrigin ?? 4,
      keepAliveMs: options.keepAliveMs ?? 30_000,
    };
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const started = performance.now();
    const route = this.#route(request.target, request.pool ?? '');
    const deadline = this.#deadline(started);
    try {
      const response = await route.pool.request({
        method: 'POST',
        path: route.path,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhooks/1',
          ...request.headers,
        },
        body: request.body,
        signal: deadline,
      });
      // an empty answer (the usual one) is complete with its headers: nothing to read
      const excerpt = response.headers['content-length'] === '0' ? null : await readExcerpt(response.body);
      const retryAfter = headerValue(response.headers['retry-after']);
      const isRedirect = response.statusCode >= 300 && response.statusCode < 400;
      return {
        statusCode: response.statusCode,
        latencyMs: performance.now() - started,
        excerpt,
        errorCode: isRedirect ? 'redirect_not_followed' : null,
        retryAfterMs: parseRetryAfter(retryAfter),
      };
    } catch (error) {
      return {
        statusCode: null,
        latencyMs: performance.now() - started,
        excerpt: null,
        errorCode: deadline.timedOut ? 'timeout' : errorCodeOf(error),
        retryAfterMs: undefined,
      };
    }
  }

  /**
   * The abort signal of an attempt started at `now`: attempts started in the same
   * DEADLINE_SLOT_MS share one emitter, aborted when the last of them has had its total
   * timeout. An AbortController and a timer per attempt cost more than the rest of the
   * request (the AbortSignal is an EventTarget tracked by weak references); undici accepts
   * an emitter as the signal.
   */
  #deadline(now: number): Deadline {
    const slot = Math.floor(now / DEADLINE_SLOT_MS);
    if (this.#slot?.slot === slot) return this.#slot.emitter;
    const emitter = Object.assign(new EventEmitter(), { timedOut: false });
    emitter.setMaxListeners(0);
    const delay = (slot + 1) * DEADLINE_SLOT_MS - now + this.#options.totalTimeoutMs;
    setTimeout(() => {
      emitter.timedOut = true;
      emitter.emit('abort');
    }, delay).unref();
    this.#slot = { slot, emitter };
    return emitter;
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
 * At most 1 KiB of the body (then the rest is cut off), redacted. Listeners rather than an
 * async iterator: most receivers answer with an empty or tiny body, and this is the hot path.
 */
function readExcerpt(body: Readable): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      body.off('data', onData);
      if (size >= EXCERPT_BYTES) body.destroy();
      if (size === 0) return resolve(null);
      const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))
        .subarray(0, EXCERPT_BYTES)
        .toString('utf8')
        .replace(/\uFFFD+$/, '');
      resolve(redactSecrets(text));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= EXCERPT_BYTES) finish();
    };
    body.on('data', onData);
    // a body cut short still leaves the excerpt read so far
    body.once('end', finish);
    body.once('error', finish);
    body.once('close', finish);
  });
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
