// Gateway overhead on loopback: a bare Fastify app against the same app behind gatehouseFastify,
// and the Gatehouse standalone proxy against @fastify/http-proxy (no auth) in front of one
// upstream, side by side in one run. Every server is its own child process (this file, forked
// with a role); the load generator (autocannon) runs here. Key secrets reach this process over
// IPC, never argv.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const CONNECTIONS = 32;
const SECONDS = 5;
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
const PATH = '/v1/payments/pi_1';
const HUGE = [{ limit: 1_000_000_000, window_seconds: 1 }];
const BODY = { id: 'pi_1', object: 'payment', amount: 1000, currency: 'usd', status: 'succeeded' };
const ROLE_ENV = 'GATEHOUSE_BENCH_ROLE';

// ---------------------------------------------------------------- children (servers)

const cli = { principal: { kind: 'cli', user: 'bench' }, ip: null, requestId: null };

async function benchKey(runtime) {
  const account = await runtime.accounts.create(cli, { name: 'bench', rate_limits: HUGE });
  const key = await runtime.keys.create(cli, {
    account: account.id,
    mode: 'live',
    type: 'secret',
    rate_limits: HUGE,
  });
  return key.secret;
}

async function fastifyApp() {
  const { default: Fastify } = await import('fastify');
  return Fastify({ logger: false });
}

const roles = {
  async upstream() {
    const payload = JSON.stringify(BODY);
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(payload);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  },

  async bare() {
    const app = await fastifyApp();
    app.get(PATH, async () => BODY);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() };
  },

  async middleware(dir) {
    const { Keyring } = await import('@gatehouse/core');
    const { createKv } = await import('@gatehouse/kv');
    const { createGatewayEngine, createRuntime, gatehouseFastify, parseGatewayConfig } = await import(
      '@gatehouse/server'
    );
    const { createStore } = await import('@gatehouse/store');
    const store = await createStore({ url: join(dir, 'middleware.db') });
    await store.migrate();
    const kv = await createKv({});
    const runtime = await createRuntime({ store, kv, keyring: Keyring.generate() });
    const secret = await benchKey(runtime);
    const engine = createGatewayEngine({ runtime, config: parseGatewayConfig({ rate_limits: HUGE }) });
    const app = await fastifyApp();
    await app.register(gatehouseFastify(engine));
    app.get(PATH, async () => BODY);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: `http://127.0.0.1:${app.server.address().port}`,
      secret,
      async close() {
        await app.close();
        engine.close();
        await runtime.close();
        await kv.close();
        await store.close();
      },
    };
  },

  async 'gatehouse-proxy'(dir) {
    const { loadConfig, startServer } = await import('@gatehouse/server');
    const gatewayConfig = join(dir, 'gateway.json');
    writeFileSync(gatewayConfig, JSON.stringify({ rate_limits: HUGE }));
    const server = await startServer(
      loadConfig({
        GATEHOUSE_UPSTREAM_URL: process.env.GATEHOUSE_BENCH_UPSTREAM,
        GATEHOUSE_GATEWAY_CONFIG: gatewayConfig,
        GATEHOUSE_DATA_DIR: join(dir, 'data'),
        GATEHOUSE_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'warn',
      }),
    );
    const secret = await benchKey(server.runtime);
    return { url: server.url, secret, close: () => server.close() };
  },

  async 'fastify-proxy'() {
    const { default: proxy } = await import('@fastify/http-proxy');
    const app = await fastifyApp();
    await app.register(proxy, { upstream: process.env.GATEHOUSE_BENCH_UPSTREAM });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${app.server.address().port}`, close: () => app.close() };
  },
};

async function child(role) {
  const server = await roles[role](process.env.GATEHOUSE_BENCH_DIR);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await server.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (m) => {
    if (m === 'stop') stop();
  });
  process.on('disconnect', stop);
  process.send({ ready: true, url: server.url, secret: server.secret ?? null });
}

if (process.env[ROLE_ENV] && process.send) await child(process.env[ROLE_ENV]);

// ---------------------------------------------------------------- parent (load generator)

function spawnServer(role, env) {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, ...env, [ROLE_ENV]: role },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise((resolve, reject) => {
    proc.once('message', (m) => (m?.ready ? resolve(m) : reject(new Error(`${role}: ${JSON.stringify(m)}`))));
    proc.once('exit', (code) => reject(new Error(`${role} exited early (${code})`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (proc.connected) proc.send('stop');
      else proc.kill('SIGTERM');
    });
  return { proc, ready, stop };
}

function load(target, opts) {
  return autocannon({
    url: `${target.url}${PATH}`,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: target.secret ? { authorization: `Bearer ${target.secret}` } : {},
    ...opts,
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function check(name, r) {
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-gw-'));
  const children = [];
  const start = (role, env = {}) => {
    const c = spawnServer(role, { GATEHOUSE_BENCH_DIR: dir, ...env });
    children.push(c);
    return c.ready;
  };
  try {
    const upstream = await start('upstream');
    const upstreamEnv = { GATEHOUSE_BENCH_UPSTREAM: upstream.url };
    const [bare, middleware, gatehouseProxy, fastifyProxy] = await Promise.all([
      start('bare'),
      start('middleware'),
      start('gatehouse-proxy', upstreamEnv),
      start('fastify-proxy', upstreamEnv),
    ]);
    const pairs = [
      {
        title: 'middleware',
        baseline: ['bare Fastify', bare],
        subject: ['Fastify + gatehouseFastify', middleware],
        target: 'throughput ≥ 0.90× bare Fastify',
        min: 0.9,
      },
      {
        title: 'proxy',
        baseline: ['@fastify/http-proxy (no auth)', fastifyProxy],
        subject: ['Gatehouse standalone proxy', gatehouseProxy],
        target: 'throughput ≥ 1.5× @fastify/http-proxy',
        min: 1.5,
      },
    ];
    const variants = pairs.flatMap((p) => [p.baseline, p.subject]);
    for (const [name, target] of variants) check(name, await load(target, { duration: WARMUP_SECONDS }));

    // peak throughput: alternating rounds, median
    const peak = Object.fromEntries(variants.map(([name]) => [name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, target] of variants) {
        const res = await load(target);
        check(name, res);
        peak[name].push(res.requests.average);
      }
    }
    // p99 at about half of each variant's own peak rate
    const p99 = Object.fromEntries(variants.map(([name]) => [name, []]));
    const rate = Object.fromEntries(variants.map(([name]) => [name, Math.round(median(peak[name]) / 2)]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, target] of variants) {
        const res = await load(target, { overallRate: rate[name] });
        check(name, res);
        p99[name].push(res.latency.p99);
      }
    }

    const results = {};
    for (const [name] of variants) {
      results[name] = {
        requestsPerSec: Math.round(median(peak[name])),
        rounds: peak[name].map(Math.round),
        p99Ms: median(p99[name]),
        p99Rounds: p99[name],
        p99AtRequestsPerSec: rate[name],
      };
    }
    const rows = [];
    const verdicts = [];
    for (const p of pairs) {
      const base = results[p.baseline[0]];
      const subj = results[p.subject[0]];
      const ratio = subj.requestsPerSec / base.requestsPerSec;
      const added = subj.p99Ms - base.p99Ms;
      p.ratio = ratio;
      p.addedP99Ms = added;
      for (const [name, r, isBase] of [
        [p.baseline[0], base, true],
        [p.subject[0], subj, false],
      ]) {
        rows.push(
          `| ${p.title} | ${name} | ${r.requestsPerSec.toLocaleString('en-US')} | ${isBase ? '1.00' : ratio.toFixed(2)}× | ${r.p99AtRequestsPerSec.toLocaleString('en-US')} | ${r.p99Ms.toFixed(2)} | ${isBase ? '—' : `${added >= 0 ? '+' : ''}${added.toFixed(2)}`} |`,
        );
      }
      verdicts.push(
        `${p.title}: ${p.target} — ${ratio >= p.min ? 'met' : 'not met'} (${ratio.toFixed(2)}×); added p99 ≤ 1 ms — ${added <= 1 ? 'met' : 'not met'} (${added >= 0 ? '+' : ''}${added.toFixed(2)} ms)`,
      );
      results[p.title] = { ratio: Number(ratio.toFixed(3)), addedP99Ms: Number(added.toFixed(3)) };
    }
    const markdown = [
      `gateway: GET ${PATH} on loopback, autocannon ${CONNECTIONS} connections, ${SECONDS} s runs, median of ${ROUNDS} alternating rounds; p99 at about half of each variant's own peak rate (overallRate), node ${process.version}`,
      '',
      '| pair | variant | requests/s | ratio | p99 at req/s | p99 ms | added p99 ms |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      ...verdicts.map((v) => `- ${v}`),
    ].join('\n');
    return { name: 'gateway', node: process.version, date: new Date().toISOString(), results, markdown };
  } finally {
    // the upstream last, so the proxies never see it go away
    await Promise.all(children.slice(1).map((c) => c.stop()));
    await children[0]?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
