import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatehouse, type RunningCli, startGatehouse } from './cli-flow.js';
import { accountStatus, POLL_MS, post, propagation } from './two-instances.js';

// Two real `gatehouse start` processes on one PostgreSQL schema and NO Redis: revocations
// travel over PostgreSQL LISTEN/NOTIFY. The key cache TTL is set to a minute, so a refusal
// within a second can only come from the notification, never from the cache expiring. The
// measured times are printed.

const PG_URL = process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const LIMIT_MS = 1000;

/** PostgreSQL answers? Under CI=true it must, or the suite fails. */
async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true')
      throw new Error(`PostgreSQL is unreachable under CI=true: ${String(err)}`);
    console.warn(`PostgreSQL revocation e2e skipped (it fails under CI=true): ${String(err)}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Revokes through A and polls B until it refuses; ms from the request and from A's answer. */
const revocationTime = (a: string, b: string, adminKey: string, key: { id: string; secret: string }) =>
  propagation(b, key.secret, () => post(a, adminKey, `/v1/keys/${key.id}/revoke`, { reason: 'compromised' }));

describe('revocation across two instances over PostgreSQL LISTEN/NOTIFY (no Redis)', async () => {
  const available = await postgresReachable();
  const schema = `gh_e2e_pgrev_${randomBytes(5).toString('hex')}`;
  const dirs: string[] = [];
  let a: RunningCli;
  let b: RunningCli;
  let adminKey: string;
  let accountId: string;
  let admin: pg.Client;

  /** pids of the backends LISTENing for this schema (one per running instance) */
  async function listeners(): Promise<number[]> {
    const { rows } = await admin.query<{ pid: number }>(
      `select pid from pg_stat_activity where application_name = 'gatehouse-listen' and query like $1`,
      [`%gatehouse:${schema}:%`],
    );
    return rows.map((r) => r.pid);
  }

  beforeAll(async () => {
    if (!available) return;
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const keyring = `pepper:1:${randomBytes(32).toString('base64')},data:1:${randomBytes(32).toString('base64')}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      GATEHOUSE_DATABASE_URL: PG_URL,
      GATEHOUSE_DATABASE_SCHEMA: schema,
      GATEHOUSE_KEYRING: keyring,
      GATEHOUSE_KEY_CACHE_TTL_MS: '60000',
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    const instance = () => {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-pgrev-'));
      dirs.push(dir);
      return startGatehouse([], { ...env, GATEHOUSE_DATA_DIR: dir });
    };
    [a, b] = await Promise.all([instance(), instance()]);
    const cliEnv = { ...env, GATEHOUSE_DATA_DIR: dirs[0] };
    const created = await gatehouse(['admin-keys', 'create', '--json'], cliEnv);
    expect(created.code, created.stderr).toBe(0);
    adminKey = JSON.parse(created.stdout).secret;
    const account = await gatehouse(['accounts', 'create', '--name', 'Two instances', '--json'], cliEnv);
    expect(account.code, account.stderr).toBe(0);
    accountId = JSON.parse(account.stdout).id;
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    if (available) {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function warmKey() {
    const key = await post(a.url, adminKey, '/v1/keys', { account: accountId, mode: 'test' });
    expect(key.status).toBe(200);
    const secret = key.body['secret'] as string;
    // both instances look it up and cache it (for a minute)
    expect(await accountStatus(a.url, secret)).toBe(200);
    expect(await accountStatus(b.url, secret)).toBe(200);
    expect(await accountStatus(b.url, secret)).toBe(200);
    return { id: key.body['id'] as string, secret };
  }

  it.skipIf(!available)('a key revoked through A is refused by B within 1 s', async () => {
    expect(await listeners()).toHaveLength(2);
    const key = await warmKey();
    const t = await revocationTime(a.url, b.url, adminKey, key);
    console.log(
      `LISTEN/NOTIFY revocation A→B: ${t.fromRequest.toFixed(1)} ms from the revoke request, ${t.fromAnswer.toFixed(1)} ms after A answered (poll every ${POLL_MS} ms)`,
    );
    expect(await accountStatus(a.url, key.secret)).toBe(401);
    expect(t.fromRequest).toBeLessThanOrEqual(LIMIT_MS);
  });

  it.skipIf(!available)(
    'after its listening connection is terminated, an instance reconnects and still hears revocations',
    async () => {
      const before = await listeners();
      expect(before).toHaveLength(2);
      for (const pid of before) await admin.query('select pg_terminate_backend($1)', [pid]);
      // both instances come back with new listening connections
      const deadline = performance.now() + 10_000;
      let after: number[] = [];
      while (performance.now() < deadline) {
        after = await listeners();
        if (after.length === 2 && !after.some((pid) => before.includes(pid))) break;
        await sleep(20);
      }
      expect(after).toHaveLength(2);
      expect(after.some((pid) => before.includes(pid))).toBe(false);
      await sleep(50); // the LISTEN has returned, so the instance counts its bus as live again
      const key = await warmKey();
      const t = await revocationTime(a.url, b.url, adminKey, key);
      console.log(
        `LISTEN/NOTIFY revocation A→B after reconnect: ${t.fromRequest.toFixed(1)} ms from the revoke request, ${t.fromAnswer.toFixed(1)} ms after A answered`,
      );
      expect(t.fromRequest).toBeLessThanOrEqual(LIMIT_MS);
      expect(b.stderr()).not.toContain(adminKey);
      expect(b.stderr()).not.toContain(key.secret);
    },
  );
});
