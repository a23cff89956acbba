// Webhook delivery through the durable outbox (SQLite, and PostgreSQL when reachable) against a
// bare undici fan-out of the same signed requests with no persistence, side by side in one run,
// with the CPU time per delivery of the sender, of the receiver (a child process of its own:
// bench/webhooks-receiver.js) and of PostgreSQL; then publish → receiver latency at 200 events/s.
// Everything stays on 127.0.0.1. `node bench/webhooks-delivery.js`, or `npm run bench -- webhooks`.
// Each variant runs one uncounted warm-up round, then 7 alternating rounds; the figures are
// each variant's median round. Results and their reading: bench/README.md.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Keyring, parseWebhookSecret, webhookHeaders } from '@gatehouse/core';
import { createKv } from '@gatehouse/kv';
import { createRuntime, eventPayload } from '@gatehouse/server';
import { createStore, dropPostgresSchema } from '@gatehouse/store';
import { Pool } from 'undici';

const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ENDPOINTS = 16;
const PER_ENDPOINT = 4; // the dispatcher's default per-endpoint concurrency
const EVENTS = 1000; // × 16 endpoints = 16,000 deliveries per round
const ROUNDS = 7;
/** rounds per variant run first and not counted (JIT warm-up, pools, the outbox's worker thread) */
const WARMUP_ROUNDS = 1;
const cli = { principal: { kind: 'cli', user: 'bench' }, ip: null, requestId: null };
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const epochMs = () => performance.timeOrigin + performance.now();

/** The receiver, in a child process (bench/webhooks-receiver.js), driven over IPC. */
async function receiver() {
  const child = fork(fileURLToPath(new URL('./webhooks-receiver.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (type) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
    });
  const { port } = await next('listening');
  return {
    port,
    async reset(options = {}) {
      const done = next('reset');
      child.send({ type: 'reset', arrivals: Boolean(options.arrivals) });
      await done;
    },
    async until(n) {
      const done = next('reached');
      child.send({ type: 'until', n });
      await done;
    },
    async cpu() {
      const done = next('cpu');
      child.send({ type: 'cpu' });
      return (await done).usage;
    },
    async arrivals() {
      const done = next('arrivals');
      child.send({ type: 'arrivals' });
      return new Map(Object.entries((await done).arrivals));
    },
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

/**
 * CPU time of every `postgres` process on the machine, in ms (Linux /proc; null elsewhere).
 * Other users of the same server are counted too: on a shared machine it is an upper bound.
 */
function postgresCpuMs() {
  try {
    let ticks = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (!stat.includes('(postgres)')) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
      } catch {
        // the process ended meanwhile
      }
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Runs one round of n deliveries: per second, and CPU µs per delivery in each process. */
async function measured(rx, n, send) {
  const pg0 = postgresCpuMs();
  const rx0 = await rx.cpu();
  const self0 = process.cpuUsage();
  const started = performance.now();
  await send();
  const seconds = (performance.now() - started) / 1000;
  const self = process.cpuUsage(self0);
  const rx1 = await rx.cpu();
  const pg1 = postgresCpuMs();
  return {
    perSecond: n / seconds,
    senderUs: (self.user + self.system) / n,
    receiverUs: (rx1.user + rx1.system - rx0.user - rx0.system) / n,
    postgresUs: pg0 === null || pg1 === null ? null : ((pg1 - pg0) * 1000) / n,
  };
}

async function outbox(dialect, rx, pollMs = 20) {
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
  const endpoints = [];
  for (let i = 0; i < ENDPOINTS; i++) {
    const created = await runtime.webhooks.create(cli, {
      account: account.id,
      mode: 'test',
      url: `http://127.0.0.1:${rx.port}/hook/${i}`,
      enabled_events: ['*'],
      signing: 'v1',
    });
    endpoints.push({ id: created.id, url: created.url, secret: created.secret });
  }
  // One worker for every round, stopped until a round starts it.
  const worker = runtime.startWebhookDispatcher({ pollMs });
  await worker.stop();
  const publish = async () => {
    const ids = [];
    for (let i = 0; i < EVENTS; i++) {
      const event = await runtime.events.publish(cli, {
        account: account.id,
        mode: 'test',
        type: 'payment.succeeded',
        data: { object: { i } },
      });
      ids.push(event.id);
    }
    return ids;
  };
  return {
    runtime,
    store,
    endpoints,
    publish,
    async round() {
      await publish();
      await rx.reset();
      const result = await measured(rx, EVENTS * ENDPOINTS, async () => {
        worker.start(); // the same worker again after the previous round's stop()
        await rx.until(EVENTS * ENDPOINTS);
      });
      await worker.stop();
      return result;
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

/**
 * The baseline: the same requests the dispatcher sends (each endpoint's URL, the event's
 * payload bytes, Standard Webhooks headers signed per request with the endpoint's secret),
 * over one keep-alive pool per endpoint, 4 in flight per endpoint (64 in all), with nothing
 * read from or written to a database.
 */
function bare(rx, endpoints, events) {
  const targets = endpoints.map((e) => {
    const url = new URL(e.url);
    return {
      path: url.pathname,
      keys: [parseWebhookSecret(e.secret)],
      pool: new Pool(url.origin, { connections: PER_ENDPOINT, keepAliveTimeout: 30_000 }),
    };
  });
  return {
    async round() {
      await rx.reset();
      return measured(rx, events.length * targets.length, async () => {
        await Promise.all(
          targets.flatMap((t) => {
            let next = 0;
            return Array.from({ length: PER_ENDPOINT }, async () => {
              while (next < events.length) {
                const event = events[next++];
                const headers = webhookHeaders({
                  id: event.id,
                  timestamp: Math.floor(Date.now() / 1000),
                  body: event.body,
                  secrets: t.keys,
                });
                const r = await t.pool.request({
                  method: 'POST',
                  path: t.path,
                  headers: {
                    'content-type': 'application/json',
                    'user-agent': 'Gatehouse-Webhooks/1',
                    ...headers,
                  },
                  body: event.body,
                });
                await r.body.dump();
              }
            });
          }),
        );
        await rx.until(events.length * targets.length);
      });
    },
    close: () => Promise.all(targets.map((t) => t.pool.close())),
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
  const rx = await receiver();
  const dialects = ['sqlite', ...((await pgReachable()) ? ['postgres'] : [])];
  const outboxes = {};
  for (const d of dialects) outboxes[`outbox_${d}`] = await outbox(d, rx);
  // The bare fan-out sends events published through the SQLite runtime, as its dispatcher would.
  const first = outboxes.outbox_sqlite;
  const events = [];
  for (const id of await first.publish())
    events.push({ id, body: eventPayload(await first.store.getEvent(id)) });
  const variants = { bare: bare(rx, first.endpoints, events), ...outboxes };
  // Nobody sends those deliveries through the outbox: the rounds below publish their own.
  for (const e of first.endpoints) await first.store.abandonWebhookDeliveries(e.id, Date.now());
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < WARMUP_ROUNDS; r++) for (const v of Object.values(variants)) await v.round();
  for (let r = 0; r < ROUNDS; r++)
    for (const [k, v] of Object.entries(variants)) samples[k].push(await v.round());
  // each variant's median round (by deliveries per second), with its CPU figures
  const rounds = Object.fromEntries(
    Object.entries(samples).map(([k, xs]) => [
      k,
      [...xs].sort((a, b) => a.perSecond - b.perSecond)[xs.length >> 1],
    ]),
  );
  const perSecond = Object.fromEntries(Object.entries(rounds).map(([k, x]) => [k, Math.round(x.perSecond)]));
  const cpuUsPerDelivery = Object.fromEntries(
    Object.entries(rounds).map(([k, x]) => [
      k,
      {
        sender: +x.senderUs.toFixed(1),
        receiver: +x.receiverUs.toFixed(1),
        postgres: x.postgresUs === null ? null : +x.postgresUs.toFixed(1),
      },
    ]),
  );

  // publish → receiver at 200 events/s for 5 s, one endpoint, dispatcher running
  const lat = await outbox('sqlite', rx, 500);
  const account = (await lat.runtime.accounts.list(cli, { limit: 1 })).data[0];
  const one = (await lat.runtime.webhooks.list(cli, { limit: 100 })).data;
  for (const e of one.slice(1)) await lat.runtime.webhooks.delete(cli, e.id);
  await rx.reset({ arrivals: true });
  lat.runtime.startWebhookDispatcher().start();
  const sent = new Map();
  const total = 1000;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * 5;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = epochMs();
    const ev = await lat.runtime.events.publish(cli, {
      account: account.id,
      mode: 'test',
      type: 'payment.succeeded',
      data: { i },
    });
    sent.set(ev.id, at);
  }
  await rx.until(total);
  const arrivals = await rx.arrivals();
  const latencies = [...sent].map(([id, at]) => arrivals.get(id) - at);
  for (const v of Object.values(variants)) await v.close();
  await lat.close();
  await rx.close();

  const result = {
    deliveriesPerSecond: perSecond,
    cpuUsPerDelivery,
    allRoundsPerSecond: Object.fromEntries(
      Object.entries(samples).map(([k, xs]) => [k, xs.map((x) => Math.round(x.perSecond))]),
    ),
    ratios: Object.fromEntries(
      dialects.map((d) => [`outbox_${d}`, +(perSecond[`outbox_${d}`] / perSecond.bare).toFixed(2)]),
    ),
    latencyMs200PerSecond: {
      p50: +pct(latencies, 50).toFixed(1),
      p95: +pct(latencies, 95).toFixed(1),
      p99: +pct(latencies, 99).toFixed(1),
    },
  };
  const cpu = (k) => {
    const c = cpuUsPerDelivery[k];
    return `${c.sender} | ${c.receiver} | ${c.postgres ?? '–'}`;
  };
  result.markdown = [
    '| webhook delivery (16 endpoints × 4 in flight) | per second | ratio to bare | CPU µs/delivery: sender | receiver | all postgres |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    `| bare undici fan-out, signed, no persistence | ${perSecond.bare} | 1.00 | ${cpu('bare')} |`,
    ...dialects.map(
      (d) =>
        `| durable outbox, ${d} | ${perSecond[`outbox_${d}`]} | ${result.ratios[`outbox_${d}`]} | ${cpu(`outbox_${d}`)} |`,
    ),
    '',
    `publish → receiver at 200 events/s (SQLite): p50 ${result.latencyMs200PerSecond.p50} ms, p95 ${result.latencyMs200PerSecond.p95} ms, p99 ${result.latencyMs200PerSecond.p99} ms`,
  ].join('\n');
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  console.log((await run()).markdown);
