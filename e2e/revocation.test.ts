import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatehouse, type RunningCli, startGatehouse } from './cli-flow.js';
import { accountStatus, POLL_MS, post, propagation } from './two-instances.js';

// Two real `gatehouse start` processes on one PostgreSQL schema and one Redis prefix: a key
// revoked (or rolled out) through instance A must be refused by instance B, which has it
// cached, within one second. The measured times are printed.

const PG_URL = process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env['GATEHOUSE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const LIMIT_MS = 1000;

/** One command to Redis over a plain socket; the reply's first line (`+PONG`, `:3`, `-ERR …`). */
function redisCommand(args: string[]): Promise<string> {
  const url = new URL(REDIS_URL);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(2000, () => socket.destroy(new Error('redis: timed out')));
    let reply = '';
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.end();
        resolve(reply.slice(0, end));
      }
    });
    socket.on('error', reject);
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

/** PostgreSQL and Redis both answer? Under CI=true one that does not fails the suite. */
async function servicesReachable(): Promise<boolean> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    problems.push(`PostgreSQL: ${String(err)}`);
  } finally {
    await client.end().catch(() => {});
  }
  try {
    if ((await redisCommand(['PING'])) !== '+PONG') problems.push('Redis: no PONG');
  } catch (err) {
    problems.push(`Redis: ${String(err)}`);
  }
  if (problems.length === 0) return true;
  if (process.env['CI'] === 'true') throw new Error(`unreachable under CI=true: ${problems.join('; ')}`);
  console.warn(`revocation e2e skipped (it fails under CI=true): ${problems.join('; ')}`);
  return false;
}

/** every GET /v1/account sent, for the request-log count at the end */
let accountCalls = 0;
const secrets: string[] = [];

/** `accountStatus`, counted */
function status(url: string, key: string): Promise<number> {
  accountCalls++;
  return accountStatus(url, key);
}

describe('instant revocation across two instances (PostgreSQL + Redis)', async () => {
  const available = await servicesReachable();
  const schema = `gh_e2e_rev_${randomBytes(5).toString('hex')}`;
  const prefix = `${schema}:`;
  const dirs: string[] = [];
  let a: RunningCli;
  let b: RunningCli;
  let env: NodeJS.ProcessEnv;
  let adminKey: string;
  let accountId: string;

  beforeAll(async () => {
    if (!available) return;
    const keyring = `pepper:1:${randomBytes(32).toString('base64')},data:1:${randomBytes(32).toString('base64')}`;
    env = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      GATEHOUSE_DATABASE_URL: PG_URL,
      GATEHOUSE_DATABASE_SCHEMA: schema,
      GATEHOUSE_REDIS_URL: REDIS_URL,
      GATEHOUSE_REDIS_PREFIX: prefix,
      GATEHOUSE_KEYRING: keyring,
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    const instance = () => {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-rev-'));
      dirs.push(dir);
      return startGatehouse([], { ...env, GATEHOUSE_DATA_DIR: dir });
    };
    [a, b] = await Promise.all([instance(), instance()]);
    const cliEnv = { ...env, GATEHOUSE_DATA_DIR: dirs[0] };
    const admin = await gatehouse(['admin-keys', 'create', '--json'], cliEnv);
    expect(admin.code, admin.stderr).toBe(0);
    adminKey = JSON.parse(admin.stdout).secret;
    secrets.push(adminKey);
    const account = await gatehouse(['accounts', 'create', '--name', 'Two instances', '--json'], cliEnv);
    expect(account.code, account.stderr).toBe(0);
    accountId = JSON.parse(account.stdout).id;
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (available) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
      await redisCommand([
        'EVAL',
        "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n",
        '0',
        `${prefix}*`,
      ]);
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function warmKey() {
    const key = await post(a.url, adminKey, '/v1/keys', { account: accountId, mode: 'test' });
    expect(key.status).toBe(200);
    const secret = key.body['secret'] as string;
    secrets.push(secret);
    // both instances look it up and cache it (with Redis the cache lives 30 s)
    expect(await status(a.url, secret)).toBe(200);
    expect(await status(b.url, secret)).toBe(200);
    expect(await status(b.url, secret)).toBe(200);
    return { id: key.body['id'] as string, secret };
  }

  it.skipIf(!available)('a key revoked through A is refused by B within 1 s', async () => {
    const key = await warmKey();
    const t = await propagation(
      b.url,
      key.secret,
      () => post(a.url, adminKey, `/v1/keys/${key.id}/revoke`, { reason: 'compromised' }),
      status,
    );
    console.log(
      `revocation A→B: ${t.fromRequest.toFixed(1)} ms from the revoke request, ${t.fromAnswer.toFixed(1)} ms after A answered (poll every ${POLL_MS} ms)`,
    );
    expect(await status(a.url, key.secret)).toBe(401);
    expect(t.fromRequest).toBeLessThanOrEqual(LIMIT_MS);
  });

  it.skipIf(!available)('a key rolled out through A (no grace) is refused by B within 1 s', async () => {
    const key = await warmKey();
    let replacement = '';
    const t = await propagation(
      b.url,
      key.secret,
      async () => {
        const r = await post(a.url, adminKey, `/v1/keys/${key.id}/roll`, { grace_period_seconds: 0 });
        replacement = r.body['secret'] as string;
        secrets.push(replacement);
        return r;
      },
      status,
    );
    console.log(
      `roll A→B: ${t.fromRequest.toFixed(1)} ms from the roll request, ${t.fromAnswer.toFixed(1)} ms after A answered`,
    );
    expect(t.fromRequest).toBeLessThanOrEqual(LIMIT_MS);
    expect(await status(b.url, replacement)).toBe(200);
  });

  it.skipIf(!available)(
    'both instances write every request to the shared log by their graceful shutdown, with no secret in it',
    async () => {
      await Promise.all([a.stop(), b.stop()]);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      const { rows } = await client
        .query(`SELECT * FROM "${schema}".request_logs ORDER BY created_at`)
        .finally(() => client.end());
      const accountRows = rows.filter((r) => r.route === '/v1/account');
      expect(accountRows).toHaveLength(accountCalls);
      expect(accountRows.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(2);
      expect(rows.filter((r) => r.route === '/v1/keys/:id/revoke' && r.status === 200)).toHaveLength(1);
      const dump = JSON.stringify(rows);
      for (const secret of secrets) expect(dump).not.toContain(secret.slice(8, 30));
    },
  );
});
