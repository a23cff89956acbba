// Gateway overhead on loopback, side by side in one run: a bare Fastify app against the same app
// behind gatehouseFastify; the Gatehouse standalone proxy against @fastify/http-proxy (no auth)
// and against nginx proxy_pass (no auth); and nginx with auth_request to Gatehouse against plain
// nginx, all in front of one upstream. Every server is its own child process (this file, forked
// with a role; nginx spawned by one); the load generator (autocannon) runs here. Key secrets
// reach this process over IPC, never argv.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { exampleNginxServer, findNginx, startNginx } from '../e2e/nginx-runner.js';

const CONNECTIONS = 32;
// GATEHOUSE_BENCH_SECONDS / GATEHOUSE_BENCH_ROUNDS shorten a trial run; the published table uses the defaults
const SECONDS = Number(process.env.GATEHOUSE_BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.GATEHOUSE_BENCH_ROUNDS ?? 3);
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

const NGINX = findNginx();

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

  // Gatehouse answering nginx's auth_request (no upstream of its own); it believes nginx's X-Forwarded-For
  async 'gatehouse-authz'(dir) {
    const { loadConfig, startServer } = await import('@gatehouse/server');
    const gatewayConfig = join(dir, 'authz-gateway.json');
    writeFileSync(gatewayConfig, JSON.stringify({ rate_limits: HUGE }));
    const server = await startServer(
      loadConfig({
        GATEHOUSE_GATEWAY_CONFIG: gatewayConfig,
        GATEHOUSE_DATA_DIR: join(dir, 'authz-data'),
        GATEHOUSE_PORT: '0',
        GATEHOUSE_LOG_LEVEL: 'warn',
        GATEHOUSE_TRUST_PROXY: '127.0.0.1',
      }),
    );
    const secret = await benchKey(server.runtime);
    return { url: server.url, secret, close: () => server.close() };
  },

  // nginx (one worker, as each Node server here is one thread) keeps connections to its
  // clients and upstreams alive, and logs every request as Gatehouse does
  async nginx(dir) {
    const upstream = new URL(process.env.GATEHOUSE_BENCH_UPSTREAM);
    return startNginx({
      nginx: NGINX,
      root: join(dir, 'nginx-plain'),
      server: (port) => `upstream api { server ${upstream.host}; keepalive 64; keepalive_requests 10000000; }
server {
    listen 127.0.0.1:${port};
    location / {
        proxy_pass http://api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}`,
    });
  },

  // examples/nginx/gatehouse.conf as shipped, on this run's ports
  async 'nginx-auth'(dir) {
    const upstream = new URL(process.env.GATEHOUSE_BENCH_UPSTREAM);
    const authz = new URL(process.env.GATEHOUSE_BENCH_AUTHZ);
    return startNginx({
      nginx: NGINX,
      root: join(dir, 'nginx-auth'),
      server: (port) =>
        exampleNginxServer({
          listen: `127.0.0.1:${port}`,
          gatehouse: authz.host,
          api: upstream.host,
        }).replaceAll('keepalive 16;', 'keepalive 64; keepalive_requests 10000000;'),
    });
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
    // CPU time this server process has used (µs, user + system): the parent divides the
    // difference over a run by the requests answered, a figure the machine's noise moves less
    if (m === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpuMicros: user + system, user, system });
    }
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

async function cpuMicros(child) {
  if (child.proc === undefined) return null;
  return new Promise((resolve) => {
    child.proc.once('message', (m) => resolve(m.cpuMicros));
    child.proc.send('cpu');
  });
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-gw-'));
  const children = [];
  const start = (role, env = {}) => {
    const c = spawnServer(role, { GATEHOUSE_BENCH_DIR: dir, ...env });
    children.push(c);
    return c.ready.then((ready) => ({ ...ready, proc: c.proc }));
  };
  try {
    if (NGINX === null) throw new Error('nginx is not installed (apt-get install -y nginx)');
    const upstream = await start('upstream');
    const upstreamEnv = { GATEHOUSE_BENCH_UPSTREAM: upstream.url };
    const [bare, middleware, gatehouseProxy, fastifyProxy, authz] = await Promise.all([
      start('bare'),
      start('middleware'),
      start('gatehouse-proxy', upstreamEnv),
      start('fastify-proxy', upstreamEnv),
      start('gatehouse-authz'),
    ]);
    const [nginx, nginxAuth] = await Promise.all([
      start('nginx', upstreamEnv),
      start('nginx-auth', { ...upstreamEnv, GATEHOUSE_BENCH_AUTHZ: authz.url }),
    ]);
    // nginx-auth's key lives in the Gatehouse it asks; its CPU is that Gatehouse's
    const nginxAuthTarget = { ...nginxAuth, secret: authz.secret, proc: authz.proc };
    const nginxTarget = { ...nginx, proc: undefined };
    const V = {
      'bare Fastify': bare,
      'Fastify + gatehouseFastify': middleware,
      '@fastify/http-proxy (no auth)': fastifyProxy,
      'Gatehouse standalone proxy': gatehouseProxy,
      'nginx proxy_pass (no auth)': nginxTarget,
      'nginx + auth_request to Gatehouse': nginxAuthTarget,
    };
    const pairs = [
      {
        title: 'middleware',
        baseline: 'bare Fastify',
        subject: 'Fastify + gatehouseFastify',
        target: 'throughput ≥ 0.90× bare Fastify',
        min: 0.9,
      },
      {
        title: 'proxy vs @fastify/http-proxy',
        baseline: '@fastify/http-proxy (no auth)',
        subject: 'Gatehouse standalone proxy',
        target: 'throughput ≥ 1.5× @fastify/http-proxy',
        min: 1.5,
      },
      {
        title: 'proxy vs nginx',
        baseline: 'nginx proxy_pass (no auth)',
        subject: 'Gatehouse standalone proxy',
        target: 'throughput: report, aim ≥ 0.6× nginx proxy_pass',
        min: 0.6,
      },
      {
        title: 'nginx auth_request',
        baseline: 'nginx proxy_pass (no auth)',
        subject: 'nginx + auth_request to Gatehouse',
        target: 'throughput: report',
        min: null,
      },
    ];
    const names = Object.keys(V);
    for (const name of names) check(name, await load(V[name], { duration: WARMUP_SECONDS }));

    // peak throughput (and the server's CPU per request): alternating rounds, median
    const peak = Object.fromEntries(names.map((n) => [n, []]));
    const cpu = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of names) {
        const before = await cpuMicros(V[name]);
        const res = await load(V[name]);
        const after = await cpuMicros(V[name]);
        check(name, res);
        peak[name].push(res.requests.average);
        if (before !== null) cpu[name].push((after - before) / res.requests.total);
      }
    }
    // p99 at about half of each variant's own peak rate
    const p99 = Object.fromEntries(names.map((n) => [n, []]));
    const rate = Object.fromEntries(names.map((n) => [n, Math.round(median(peak[n]) / 2)]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of names) {
        const res = await load(V[name], { overallRate: rate[name] });
        check(name, res);
        p99[name].push(res.latency.p99);
      }
    }

    const results = {};
    for (const name of names) {
      results[name] = {
        requestsPerSec: Math.round(median(peak[name])),
        rounds: peak[name].map(Math.round),
        cpuMicrosPerRequest: cpu[name].length > 0 ? Number(median(cpu[name]).toFixed(1)) : null,
        p99Ms: median(p99[name]),
        p99Rounds: p99[name],
        p99AtRequestsPerSec: rate[name],
      };
    }
    const fmtCpu = (r) => (r.cpuMicrosPerRequest === null ? '—' : r.cpuMicrosPerRequest.toFixed(1));
    const rows = [];
    const verdicts = [];
    const ratios = {};
    for (const p of pairs) {
      const base = results[p.baseline];
      const subj = results[p.subject];
      const ratio = subj.requestsPerSec / base.requestsPerSec;
      const added = subj.p99Ms - base.p99Ms;
      for (const [name, r, isBase] of [
        [p.baseline, base, true],
        [p.subject, subj, false],
      ]) {
        rows.push(
          `| ${p.title} | ${name} | ${r.requestsPerSec.toLocaleString('en-US')} | ${isBase ? '1.00' : ratio.toFixed(2)}× | ${fmtCpu(r)} | ${r.p99AtRequestsPerSec.toLocaleString('en-US')} | ${r.p99Ms.toFixed(2)} | ${isBase ? '—' : `${added >= 0 ? '+' : ''}${added.toFixed(2)}`} |`,
        );
      }
      const verdict = p.min === null ? 'reported' : ratio >= p.min ? 'met' : 'not met';
      verdicts.push(
        `${p.title}: ${p.target} — ${verdict} (${ratio.toFixed(2)}×); added p99 ≤ 1 ms — ${added <= 1 ? 'met' : 'not met'} (${added >= 0 ? '+' : ''}${added.toFixed(2)} ms)`,
      );
      ratios[p.title] = { ratio: Number(ratio.toFixed(3)), addedP99Ms: Number(added.toFixed(3)) };
    }
    const markdown = [
      `gateway: GET ${PATH} on loopback, autocannon ${CONNECTIONS} connections, ${SECONDS} s runs, median of ${ROUNDS} alternating rounds; server CPU µs per request from the process's own counters (for nginx + auth_request, the Gatehouse it asks; none for nginx itself); p99 at about half of each variant's own peak rate (overallRate), node ${process.version}`,
      '',
      '| pair | variant | requests/s | ratio | server CPU µs/req | p99 at req/s | p99 ms | added p99 ms |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      ...verdicts.map((v) => `- ${v}`),
    ].join('\n');
    return {
      name: 'gateway',
      node: process.version,
      date: new Date().toISOString(),
      results,
      ratios,
      markdown,
    };
  } finally {
    // the upstream last, so the proxies never see it go away
    await Promise.all(children.slice(1).map((c) => c.stop()));
    await children[0]?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
