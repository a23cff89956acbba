// Revocation propagation across two real `gatehouse start` processes sharing one PostgreSQL
// schema: revoke a key through instance A, poll instance B (which has the key cached) until it
// answers 401. Repeated ROUNDS times; median and max reported, next to the revoke request's own
// round trip on A (the baseline measured in the same run). Twice: with one Redis prefix (Redis
// pub/sub carries the invalidation) and without Redis (PostgreSQL LISTEN/NOTIFY carries it; the
// key cache is set to 60 s so nothing but the notification can explain a fast refusal).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { dropPostgresSchema } from '@gatehouse/store';

const ROUNDS = 20;
const POLL_MS = 1;
const BIN = fileURLToPath(new URL('../packages/cli/bin/gatehouse.js', import.meta.url));
const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function cli(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`gatehouse ${args[0]} failed:\n${stderr}`)),
    );
  });
}

/** `gatehouse start` on a free port; resolves with its url and a stop function. */
function start(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: { ...env, GATEHOUSE_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse start did not come up:\n${stderr}`));
    }, 20_000);
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on (http\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          stop: () =>
            new Promise((r) => {
              if (child.exitCode !== null) return r();
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gatehouse start exited with ${code}:\n${stderr}`));
    });
  });
}

async function request(url, key, method = 'GET', body) {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

async function measure(channel) {
  const schema = `gh_bench_rev_${randomBytes(5).toString('hex')}`;
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'gatehouse-bench-rev-')));
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GATEHOUSE_DATABASE_URL: PG_URL,
    GATEHOUSE_DATABASE_SCHEMA: schema,
    ...(channel === 'redis'
      ? { GATEHOUSE_REDIS_URL: REDIS_URL, GATEHOUSE_REDIS_PREFIX: `${schema}:` }
      : { GATEHOUSE_KEY_CACHE_TTL_MS: '60000' }),
    GATEHOUSE_KEYRING: `pepper:1:${randomBytes(32).toString('base64')},data:1:${randomBytes(32).toString('base64')}`,
    GATEHOUSE_LOG_LEVEL: 'warn',
  };
  const instances = [];
  try {
    instances.push(...(await Promise.all(dirs.map((dir) => start({ ...env, GATEHOUSE_DATA_DIR: dir })))));
    const [a, b] = instances;
    const cliEnv = { ...env, GATEHOUSE_DATA_DIR: dirs[0] };
    const admin = (await cli(['admin-keys', 'create', '--json'], cliEnv)).secret;
    const account = (await cli(['accounts', 'create', '--name', 'bench', '--json'], cliEnv)).id;
    const fromRequest = [];
    const fromAnswer = [];
    const revokeRoundTrip = [];
    for (let round = 0; round < ROUNDS; round++) {
      const key = await request(`${a.url}/v1/keys`, admin, 'POST', { account, mode: 'test' });
      const secret = key.body.secret;
      for (const url of [a.url, b.url, b.url]) {
        if ((await request(`${url}/v1/account`, secret)).status !== 200) throw new Error('key not usable');
      }
      const sent = performance.now();
      let answered = Number.NaN;
      const revoked = request(`${a.url}/v1/keys/${key.body.id}/revoke`, admin, 'POST', {}).then((r) => {
        answered = performance.now();
        return r;
      });
      let refusedAt = Number.NaN;
      while (performance.now() - sent < 5000) {
        if ((await request(`${b.url}/v1/account`, secret)).status === 401) {
          refusedAt = performance.now();
          break;
        }
        await sleep(POLL_MS);
      }
      if ((await revoked).status !== 200) throw new Error('revoke failed');
      if (Number.isNaN(refusedAt)) throw new Error('instance B never refused the revoked key');
      fromRequest.push(refusedAt - sent);
      fromAnswer.push(Math.max(0, refusedAt - answered));
      revokeRoundTrip.push(answered - sent);
    }
    return {
      'revoke request on A (round trip)': { medianMs: median(revokeRoundTrip), maxMs: max(revokeRoundTrip) },
      'B refuses, from the revoke request': { medianMs: median(fromRequest), maxMs: max(fromRequest) },
      'B refuses, after A answered': { medianMs: median(fromAnswer), maxMs: max(fromAnswer) },
    };
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
    await dropPostgresSchema(PG_URL, schema).catch(() => {});
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

const CHANNELS = { redis: 'Redis pub/sub', postgres: 'PostgreSQL LISTEN/NOTIFY (no Redis)' };

export async function run() {
  const results = { rounds: ROUNDS, pollMs: POLL_MS };
  for (const channel of Object.keys(CHANNELS)) results[channel] = await measure(channel);
  const rows = Object.entries(CHANNELS).flatMap(([channel, title]) =>
    Object.entries(results[channel]).map(
      ([name, v]) => `| ${title} | ${name} | ${v.medianMs.toFixed(1)} | ${v.maxMs.toFixed(1)} |`,
    ),
  );
  const markdown = [
    `revocation: two gatehouse processes on one PostgreSQL schema, ${ROUNDS} revocations per channel, B polled every ~${POLL_MS} ms, node ${process.version}`,
    '',
    '| invalidation channel | measure | median ms | max ms |',
    '| --- | --- | ---: | ---: |',
    ...rows,
  ].join('\n');
  return { name: 'revocation', node: process.version, date: new Date().toISOString(), results, markdown };
}
