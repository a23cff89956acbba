// Webhook delivery through the durable outbox (SQLite, and PostgreSQL when reachable) against a
// bare undici fan-out of the same requests with no persistence, side by side in one run; and
// publish → receiver latency at 200 events/s. Everything stays on 127.0.0.1.
// `node bench/webhooks-delivery.js`. Measured on the shared dev machine (one run): bare undici
// 16,600/s; outbox on SQLite 967/s (0.06×) and PostgreSQL 998/s (0.06×) — far below the 0.8×
// target: each attempt reads its endpoint and event and commits its own transaction (batching
// those is the next step); publish → receiver at 200 events/s: p50 1.6 ms, p95 6.5 ms.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Keyring } from '@gatehouse/core';
import { createKv } from '@gatehouse/kv';
import { createRuntime } from '@gatehouse/server';
import { createStore, dropPostgresSchema } from '@gatehouse/store';
import { Pool } from 'undici';

const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ENDPOINTS = 16;
const EVENTS = 250; // × 16 endpoints = 4,000 deliveries per round
const ROUNDS = 3;
const cli = { principal: { kind: 'cli', user: 'bench' }, ip: null, requestId: null };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function receiver() {
  let count = 0;
  let waiter;
  const arrivals = new Map();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      arrivals.set(String(req.headers['webhook-id']), performance.now());
      res.writeHead(200).end();
      if (waiter && count >= waiter.n) waiter.resolve();
    });
  });
  return {
    arrivals,
    get count() {
      return count;
    },
    reset() {
      count = 0;
      arrivals.clear();
    },
    until(n) {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve) => {
        waiter = { n, resolve };
      });
    },
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port))),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function outbox(dialect, rx, port) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-wh-'));
  const schema = `gh_bench_wh_${randomBytes(5).toString('hex')}`;
  const store = await createStore(
    dialect === 'postgres' ? { url: PG_URL, schema } : { url: join(dir, 'g.db') },
  );
  await store.migrate();
  const kv = await createKv({});
  const runtime = await createRuntime({
    store,
    kv,
    keyring: Keyring.generate(),
    webhookAllowedPrivateHosts: ['127.0.0.1'],
  });
  const account = await runtime.accounts.create(cli, { name: 'bench' });
  for (let i = 0; i < ENDPOINTS; i++) {
    await runtime.webhooks.create(cli, {
      account: account.id,
      mode: 'test',
      url: `http://127.0.0.1:${port}/hook/${i}`,
      enabled_events: ['*'],
      signing: 'v1',
    });
  }
  return {
    runtime,
    async round() {
      for (let i = 0; i < EVENTS; i++) {
        await runtime.events.publish(cli, {
          account: account.id,
          mode: 'test',
          type: 'payment.succeeded',
          data: { object: { i } },
        });
      }
      rx.reset();
      const started = performance.now();
      const worker = runtime.startWebhookDispatcher({ pollMs: 20 });
      worker.start(); // the same worker again after the previous round's stop()
      await rx.until(EVENTS * ENDPOINTS);
      const seconds = (performance.now() - started) / 1000;
      await worker.stop();
      return (EVENTS * ENDPOINTS) / seconds;
    },
    async close() {
      await runtime.close();
      await kv.close();
      await store.close();
      if (dialect === 'postgres') await dropPostgresSchema(PG_URL, schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function bare(rx, port) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
  const body = JSON.stringify({ type: 'payment.succeeded', data: { object: { i: 0 } } });
  return {
    async round() {
      rx.reset();
      const started = performance.now();
      let next = 0;
      const total = EVENTS * ENDPOINTS;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < total) {
            const i = next++;
            const r = await pool.request({
              method: 'POST',
              path: `/hook/${i % ENDPOINTS}`,
              headers: { 'content-type': 'application/json', 'webhook-id': `evt_${i}` },
              body,
            });
            await r.body.dump();
          }
        }),
      );
      return total / ((performance.now() - started) / 1000);
    },
    close: () => pool.close(),
  };
}

async function pgReachable() {
  try {
    const s = await createStore({ url: PG_URL });
    await s.ping();
    await s.close();
    return true;
  } catch {
    return false;
  }
}

export async function run() {
  const rx = receiver();
  const port = await rx.listen();
  const dialects = ['sqlite', ...((await pgReachable()) ? ['postgres'] : [])];
  const variants = { bare: await bare(rx, port) };
  for (const d of dialects) variants[`outbox_${d}`] = await outbox(d, rx, port);
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const [k, v] of Object.entries(variants)) samples[k].push(await v.round());
  const perSecond = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, Math.round(median(xs))]));

  // publish → receiver at 200 events/s for 5 s, one endpoint, dispatcher running
  const lat = await outbox('sqlite', rx, port);
  const account = (await lat.runtime.accounts.list(cli, { limit: 1 })).data[0];
  const one = (await lat.runtime.webhooks.list(cli, { limit: 100 })).data;
  for (const e of one.slice(1)) await lat.runtime.webhooks.delete(cli, e.id);
  rx.reset();
  lat.runtime.startWebhookDispatcher({ pollMs: 500 });
  const sent = new Map();
  const total = 1000;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * 5;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = performance.now();
    const ev = await lat.runtime.events.publish(cli, {
      account: account.id,
      mode: 'test',
      type: 'payment.succeeded',
      data: { i },
    });
    sent.set(ev.id, at);
  }
  await rx.until(total);
  const latencies = [...sent].map(([id, at]) => rx.arrivals.get(id) - at);
  for (const v of Object.values(variants)) await v.close();
  await lat.close();
  await rx.close();

  const result = {
    deliveriesPerSecond: perSecond,
    ratios: Object.fromEntries(
      dialects.map((d) => [`outbox_${d}`, +(perSecond[`outbox_${d}`] / perSecond.bare).toFixed(2)]),
    ),
    latencyMs200PerSecond: {
      p50: +pct(latencies, 50).toFixed(1),
      p95: +pct(latencies, 95).toFixed(1),
      p99: +pct(latencies, 99).toFixed(1),
    },
  };
  result.markdown = [
    '| webhook delivery | per second | ratio to bare undici |',
    '| --- | --- | --- |',
    `| bare undici fan-out (64 in flight, no persistence) | ${perSecond.bare} | 1.00 |`,
    ...dialects.map(
      (d) =>
        `| durable outbox, ${d} (16 endpoints × 4) | ${perSecond[`outbox_${d}`]} | ${result.ratios[`outbox_${d}`]} |`,
    ),
    '',
    `publish → receiver at 200 events/s (SQLite): p50 ${result.latencyMs200PerSecond.p50} ms, p95 ${result.latencyMs200PerSecond.p95} ms, p99 ${result.latencyMs200PerSecond.p99} ms`,
  ].join('\n');
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log((await run()).markdown);
