import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '@gatehouse/core';
import { createKv, type Kv } from '@gatehouse/kv';
import { createStore, dropPostgresSchema, type Store } from '@gatehouse/store';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { createRuntime, type Runtime, type RuntimeParts } from '../runtime.js';
import type { Caller } from '../services/principal.js';

export const PG_URL = process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['GATEHOUSE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 15, 12, 0, 0)) {}
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

export const cliCaller: Caller = { principal: { kind: 'cli', user: 'test' }, ip: null, requestId: null };

export interface Harness {
  app: FastifyInstance;
  runtime: Runtime;
  store: Store;
  kv: Kv;
  clock: FakeClock;
  logs: string[];
  /** every secret the test saw; the log check looks for each */
  secrets: string[];
  adminKey: string;
  close(): Promise<void>;
}

export type Dialect = 'sqlite' | 'postgres';

/** Is a server reachable? Under CI=true an unreachable one fails the suite instead of skipping it. */
export async function reachable(kind: 'postgres' | 'redis'): Promise<boolean> {
  try {
    if (kind === 'postgres') {
      const s = await createStore({ url: PG_URL });
      await s.ping();
      await s.close();
    } else {
      const kv = await createKv({ url: REDIS_URL, prefix: 'gh_probe:' });
      await kv.get('probe');
      await kv.close();
    }
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') throw new Error(`${kind} is unreachable under CI=true: ${String(err)}`);
    console.warn(`${kind} is unreachable; its suite is skipped (it fails under CI=true)`);
    return false;
  }
}

export async function createHarness(
  options: {
    dialect?: Dialect;
    redis?: boolean;
    keyring?: Keyring;
    clock?: FakeClock;
    /** extra runtime parts, e.g. webhook settings */
    runtime?: Partial<Pick<RuntimeParts, 'webhookAllowedPrivateHosts' | 'webhookUrlGuard'>>;
  } = {},
): Promise<Harness> {
  const dialect = options.dialect ?? 'sqlite';
  const clock = options.clock ?? new FakeClock();
  const suffix = randomBytes(6).toString('hex');
  let store: Store;
  let cleanupStore: () => Promise<void>;
  if (dialect === 'postgres') {
    const schema = `gh_test_${suffix}`;
    store = await createStore({ url: PG_URL, schema });
    cleanupStore = () => dropPostgresSchema(PG_URL, schema);
  } else {
    const file = join(tmpdir(), `gatehouse-test-${suffix}.db`);
    store = await createStore({ url: file });
    cleanupStore = async () => {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    };
  }
  await store.migrate();
  const kv = await createKv(
    options.redis ? { url: REDIS_URL, prefix: `gh_test_${suffix}:` } : { now: clock.now },
  );
  const logs: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void logs.push(line) },
  });
  const keyring = options.keyring ?? Keyring.generate();
  const runtime = await createRuntime({ store, kv, keyring, clock, logger, ...options.runtime });
  const app = await createApp({ runtime, logger });
  await app.ready();
  const admin = await runtime.keys.createAdminKey(cliCaller, 'test operator');
  return {
    app,
    runtime,
    store,
    kv,
    clock,
    logs,
    secrets: [admin.secret],
    adminKey: admin.secret,
    async close() {
      await app.close();
      await runtime.close();
      await kv.close();
      await store.close();
      await cleanupStore();
      // Every suite built on the harness checks its whole log output for every secret it saw.
      const leaked = findLeakedSecrets(logs, this.secrets);
      if (leaked.length > 0) throw new Error(`${leaked.length} secret(s) appeared in the logs`);
    },
  };
}

/**
 * The key with its last character changed (so its checksum no longer matches): always a
 * different string, whatever the last character of the generated key was.
 */
export function withBadChecksum(key: string): string {
  return `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
}

/** The secrets (by position, never by value) that occur in any log line. */
export function findLeakedSecrets(logs: readonly string[], secrets: readonly string[]): number[] {
  const text = logs.join('\n');
  const leaked: number[] = [];
  secrets.forEach((secret, i) => {
    // the random middle of a key is enough to identify it, even if the prefix was mangled
    if (text.includes(secret) || text.includes(secret.slice(8, 30))) leaked.push(i);
  });
  return leaked;
}

export interface CallResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected field by field in tests
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
}

/** One HTTP call through the app (no socket), JSON in and out. */
export async function call(
  h: Harness,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  options: { key?: string | null; body?: unknown; headers?: Record<string, string>; ip?: string } = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const res = await h.app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON: keep the text
  }
  // remember every secret that went past, for the no-secrets-in-logs check
  const secret = (body as { secret?: unknown } | null)?.secret;
  if (typeof secret === 'string') h.secrets.push(secret);
  return { status: res.statusCode, body, headers: res.headers };
}

/** An account with a secret test key, created through the API as an operator would. */
export async function setupAccount(h: Harness, mode: 'test' | 'live' = 'test') {
  const account = await call(h, 'POST', '/v1/accounts', { key: h.adminKey, body: { name: 'Acme' } });
  if (account.status !== 200) throw new Error(`account create failed: ${JSON.stringify(account.body)}`);
  const key = await call(h, 'POST', '/v1/keys', {
    key: h.adminKey,
    body: { account: account.body.id, mode, name: 'main' },
  });
  if (key.status !== 200) throw new Error(`key create failed: ${JSON.stringify(key.body)}`);
  return {
    accountId: account.body.id as string,
    keyId: key.body.id as string,
    secret: key.body.secret as string,
  };
}
