import { createHash } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHarness, type GatewayHarness, type Upstream } from './test-kit/gateway-harness.js';

let g: GatewayHarness | undefined;
let server: Server | undefined;
afterEach(async () => {
  await g?.close();
  g = undefined;
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An upstream that answers with `handler`, as the harness's Upstream. */
async function streamingUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Upstream> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: [],
    respond: () => {},
    close: async () => {},
  };
}

/** Deterministic bytes: chunk i of `size` bytes. */
function chunkOf(i: number, size: number): Buffer {
  return Buffer.alloc(size, i % 251);
}

describe('proxy: streaming both ways', () => {
  it('streams a 8 MiB upload and a 16 MiB answer intact, to a client that reads slowly', async () => {
    const upstream = await streamingUpstream((req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      req.on('end', () => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'x-upload-sha256': hash.digest('hex'),
          'x-upload-bytes': String(bytes),
        });
        let i = 0;
        const pump = () => {
          while (i < 256) {
            if (!res.write(chunkOf(i++, 64 * 1024))) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
    });
    g = await createGatewayHarness({ upstream });
    const sent = createHash('sha256');
    const upload = Readable.from(
      (function* () {
        for (let i = 0; i < 128; i++) {
          const c = chunkOf(i, 64 * 1024);
          sent.update(c);
          yield c;
        }
      })(),
    );
    const res = await request(`${g.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.secret}`, 'content-type': 'application/octet-stream' },
      body: upload,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-upload-bytes']).toBe(String(8 * 1024 * 1024));
    expect(res.headers['x-upload-sha256']).toBe(sent.digest('hex'));
    const got = createHash('sha256');
    const want = createHash('sha256');
    for (let i = 0; i < 256; i++) want.update(chunkOf(i, 64 * 1024));
    let n = 0;
    let received = 0;
    for await (const c of res.body) {
      got.update(c as Buffer);
      received += (c as Buffer).length;
      // a slow reader: the gateway must hold the upstream back rather than buffer it all
      if (++n % 32 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(received).toBe(16 * 1024 * 1024);
    expect(got.digest('hex')).toBe(want.digest('hex'));
    expect(g.log.at(-1)).toMatchObject({ status: 200, route: '/v1/files' });
  });

  it('passes the first chunk on before the upstream has finished its answer', async () => {
    let finishUpstream: () => void = () => {};
    let upstreamEnded = false;
    const upstream = await streamingUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finishUpstream = () => {
        upstreamEnded = true;
        res.end('data: second\n\n');
      };
    });
    g = await createGatewayHarness({ upstream });
    const res = await request(`${g.url}/v1/payouts/stream`, {
      headers: { authorization: `Bearer ${g.secret}` },
    });
    expect(res.statusCode).toBe(200);
    const chunks: string[] = [];
    for await (const c of res.body) {
      chunks.push(String(c));
      if (chunks.length === 1) {
        expect(upstreamEnded).toBe(false);
        finishUpstream();
      }
    }
    expect(chunks.join('')).toBe('data: first\n\ndata: second\n\n');
  });

  it('aborts the upstream request when the client goes away mid-answer', async () => {
    let upstreamClosedEarly: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      upstreamClosedEarly = resolve;
    });
    const upstream = await streamingUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(chunkOf(1, 1024)), 10);
      res.on('close', () => {
        clearInterval(timer);
        if (!res.writableFinished) upstreamClosedEarly();
      });
    });
    g = await createGatewayHarness({ upstream });
    const res = await request(`${g.url}/v1/exports/endless`, {
      headers: { authorization: `Bearer ${g.secret}` },
    });
    expect(res.statusCode).toBe(200);
    for await (const _ of res.body) break; // one chunk, then the client hangs up
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => 'aborted'),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve('still sending'), 3000);
      }),
    ]);
    clearTimeout(timer);
    expect(outcome).toBe('aborted');
    // the client left: logged as such (499), not as an upstream failure
    for (let i = 0; i < 100 && g.log.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(g.log).toHaveLength(1);
    expect(g.log[0]).toMatchObject({ status: 499, errorCode: null });
    expect(g.h.logs.join('\n')).not.toContain('upstream failed');
  });

  it('passes the final answer on after an informational 103 Early Hints', async () => {
    const upstream = await streamingUpstream((req, res) => {
      req.resume();
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    g = await createGatewayHarness({ upstream });
    const res = await request(`${g.url}/v1/payments/pi_1`, {
      headers: { authorization: `Bearer ${g.secret}` },
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ ok: true });
    expect(g.log.at(-1)).toMatchObject({ status: 200, errorCode: null });
  });

  it('forwards a body sent with Expect: 100-continue (as curl does for larger bodies)', async () => {
    let seen: { expect: string | undefined; body: string } | undefined;
    const upstream = await streamingUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { expect: req.headers.expect, body: Buffer.concat(chunks).toString() };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    g = await createGatewayHarness({ upstream });
    const body = JSON.stringify({ amount: 100, note: 'x'.repeat(2048) });
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${g?.url}/v1/payments`);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            authorization: `Bearer ${g?.secret}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            expect: '100-continue',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('continue', () => req.end(body));
      req.on('error', reject);
    });
    expect(status).toBe(200);
    expect(seen).toEqual({ expect: undefined, body });
  });
});
