import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatehouse, type RunningCli, startGatehouse } from './cli-flow.js';

const PG_URL = process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env['GATEHOUSE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') throw new Error(`PostgreSQL unreachable under CI=true: ${String(err)}`);
    console.warn('PostgreSQL unreachable: the PostgreSQL flow is skipped (it fails under CI=true)');
    return false;
  }
}

async function api(url: string, key: string, method = 'GET', body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { code: string } },
  };
}

async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

interface Backend {
  name: string;
  env: NodeJS.ProcessEnv;
  tamperAudit(): Promise<void>;
  rawDump(): Promise<string>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  return {
    name: 'sqlite',
    env: { GATEHOUSE_DATA_DIR: dir },
    async tamperAudit() {
      const db = new Database(join(dir, 'gatehouse.db'));
      db.prepare("UPDATE audit_events SET action = 'key.nothing' WHERE seq = 3").run();
      db.close();
    },
    async rawDump() {
      return readdirSync(dir)
        .map((f) => readFileSync(join(dir, f)).toString('latin1'))
        .join('\n');
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const schema = `gh_e2e_${randomBytes(5).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  const keyring = `pepper:1:${randomBytes(32).toString('base64')},data:1:${randomBytes(32).toString('base64')}`;
  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    name: 'postgres',
    env: {
      GATEHOUSE_DATA_DIR: dir,
      GATEHOUSE_DATABASE_URL: PG_URL,
      GATEHOUSE_DATABASE_SCHEMA: schema,
      GATEHOUSE_REDIS_URL: REDIS_URL,
      GATEHOUSE_REDIS_PREFIX: `${schema}:`,
      GATEHOUSE_KEYRING: keyring,
    },
    tamperAudit: () =>
      withClient(async (c) => {
        await c.query(`UPDATE "${schema}".audit_events SET action = 'key.nothing' WHERE seq = 3`);
      }),
    rawDump: () =>
      withClient(async (c) => {
        const out: string[] = [];
        for (const table of ['accounts', 'api_keys', 'audit_events']) {
          const r = await c.query(`SELECT * FROM "${schema}"."${table}"`);
          out.push(JSON.stringify(r.rows));
        }
        return out.join('\n');
      }),
    async cleanup() {
      await withClient((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const make of [sqliteBackend, postgresBackend]) {
  describe(`a new user's first session (${make.name})`, async () => {
    const available = make === sqliteBackend || (await pgReachable());
    let backend: Backend;
    let server: RunningCli;
    let env: NodeJS.ProcessEnv;
    const secrets: string[] = [];
    beforeAll(async () => {
      if (!available) return;
      backend = make();
      env = {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        ...backend.env,
        GATEHOUSE_LOG_LEVEL: 'info',
      };
      server = await startGatehouse([], env);
    });
    afterAll(async () => {
      await server?.stop();
      await backend?.cleanup();
    });

    it.skipIf(!available)('works end to end through the CLI and the API', async () => {
      const acct = await gatehouse(['accounts', 'create', '--name', 'Acme', '--json'], env);
      expect(acct.code, acct.stderr).toBe(0);
      const accountId = JSON.parse(acct.stdout).id as string;

      const live = await gatehouse(
        ['keys', 'create', '--account', accountId, '--mode', 'live', '--json'],
        env,
      );
      expect(live.code, live.stderr).toBe(0);
      const liveKey = JSON.parse(live.stdout);
      secrets.push(liveKey.secret);
      expect(liveKey.secret).toMatch(/^sk_live_/);

      const me = await api(`${server.url}/v1/account`, liveKey.secret);
      expect(me.status).toBe(200);
      expect(me.body['id']).toBe(accountId);

      const ro = await gatehouse(
        ['keys', 'create', '--account', accountId, '--mode', 'live', '--scope', 'keys:read', '--json'],
        env,
      );
      const roKey = JSON.parse(ro.stdout);
      secrets.push(roKey.secret);
      expect(roKey.secret).toMatch(/^rk_live_/);
      expect((await api(`${server.url}/v1/keys`, roKey.secret)).status).toBe(200);
      const refused = await api(`${server.url}/v1/keys`, roKey.secret, 'POST', { name: 'x' });
      expect(refused.status).toBe(403);
      expect(refused.body.error?.code).toBe('insufficient_scope');

      // roll with a grace period: both work
      const rolled = await gatehouse(['keys', 'roll', liveKey.id, '--grace', '1h', '--json'], env);
      expect(rolled.code, rolled.stderr).toBe(0);
      const next = JSON.parse(rolled.stdout);
      secrets.push(next.secret);
      expect((await api(`${server.url}/v1/account`, liveKey.secret)).status).toBe(200);
      expect((await api(`${server.url}/v1/account`, next.secret)).status).toBe(200);

      // roll without grace: the old one is refused (on this instance within the cache bound)
      const hard = await gatehouse(['keys', 'roll', next.id, '--grace', '0', '--json'], env);
      const third = JSON.parse(hard.stdout);
      secrets.push(third.secret);
      const rollMs = await eventually(
        async () => (await api(`${server.url}/v1/account`, next.secret)).status === 401,
      );
      expect((await api(`${server.url}/v1/account`, third.secret)).status).toBe(200);

      // revoke: refused
      const rev = await gatehouse(['keys', 'revoke', third.id, '--reason', 'compromised'], env);
      expect(rev.code, rev.stderr).toBe(0);
      const revokeMs = await eventually(
        async () => (await api(`${server.url}/v1/account`, third.secret)).status === 401,
      );
      expect(Math.max(rollMs, revokeMs)).toBeLessThan(1500);

      // verify reads from stdin, never argv
      const ok = await gatehouse(['keys', 'verify'], env, `${liveKey.secret}\n`);
      expect(ok.code).toBe(0);
      const bad = await gatehouse(['keys', 'verify'], env, `${third.secret}\n`);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('revoked');

      const listed = await gatehouse(['keys', 'list', '--account', accountId], env);
      expect(listed.stdout).toContain(liveKey.id);
      for (const s of secrets) expect(listed.stdout).not.toContain(s);

      // no key in the database or the logs
      const dump = await backend.rawDump();
      const logs = server.stdout();
      expect(logs).toContain('"request"');
      for (const s of secrets) {
        expect(dump).not.toContain(s);
        expect(logs).not.toContain(s);
      }

      // the audit chain verifies, then catches an edited row
      const verified = await gatehouse(['audit', 'verify', '--json'], env);
      expect(verified.code, verified.stdout).toBe(0);
      const exported = await gatehouse(['audit', 'export'], env);
      const lines = exported.stdout.trim().split('\n');
      expect(lines.length).toBe(JSON.parse(verified.stdout).checked);
      for (const s of secrets) expect(exported.stdout).not.toContain(s);
      await backend.tamperAudit();
      const broken = await gatehouse(['audit', 'verify'], env);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain('seq 3');
    });

    it.skipIf(!available)('answers usage errors with exit code 2, other errors with 1', async () => {
      expect((await gatehouse(['keys', 'create'], env)).code).toBe(2);
      expect((await gatehouse(['keys', 'create', '--account', 'acct_x', '--mode', 'prod'], env)).code).toBe(
        2,
      );
      expect((await gatehouse(['nope'], env)).code).toBe(2);
      expect(
        (await gatehouse(['keys', 'roll', 'key_01HZZZZZZZZZZZZZZZZZZZZZZZ', '--grace', 'soon'], env)).code,
      ).toBe(2);
      // not a usage error: the command was right, the key is not there
      const missing = await gatehouse(['keys', 'revoke', 'key_01HZZZZZZZZZZZZZZZZZZZZZZZ'], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('resource_missing');
    });
  });
}
