// Key verification throughput: cached and uncached (SQLite), against a bare HMAC-SHA256 of
// the same keys, side by side in one run.
import { createHmac, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '@gatehouse/core';
import { createKv } from '@gatehouse/kv';
import { createRuntime } from '@gatehouse/server';
import { createStore } from '@gatehouse/store';
import { compare } from './measure.js';

const KEYS = 1000;

export async function run() {
  const file = join(tmpdir(), `gatehouse-bench-${randomBytes(4).toString('hex')}.db`);
  const store = await createStore({ url: file });
  await store.migrate();
  const kv = await createKv({});
  const keyring = Keyring.generate();
  const cached = await createRuntime({ store, kv, keyring, keyCacheTtlMs: 3_600_000 });
  const uncached = await createRuntime({ store, kv, keyring, keyCacheTtlMs: 0 });
  const cli = { principal: { kind: 'cli', user: 'bench' }, ip: null, requestId: null };
  const account = await cached.accounts.create(cli, { name: 'bench' });
  const secrets = [];
  for (let i = 0; i < KEYS; i++) {
    const k = await cached.keys.create(cli, { account: account.id, mode: 'live', type: 'secret' });
    secrets.push(k.secret);
  }
  const pepper = keyring.current('pepper').key;
  let sink = 0;
  const variants = {
    'bare HMAC-SHA256': (i) => {
      sink ^= createHmac('sha256', pepper)
        .update(secrets[i % KEYS])
        .digest()[0];
    },
    'verify, cached': async (i) => {
      const r = await cached.authenticator.check(secrets[i % KEYS], '127.0.0.1');
      if (!r.ok) throw new Error('bench key refused');
    },
    'verify, uncached (SQLite)': async (i) => {
      const r = await uncached.authenticator.check(secrets[i % KEYS], '127.0.0.1');
      if (!r.ok) throw new Error('bench key refused');
    },
  };
  const results = await compare(variants, { rounds: 5, ms: 1000 });
  await cached.close();
  await uncached.close();
  await kv.close();
  await store.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const base = results['bare HMAC-SHA256'].opsPerSec;
  const rows = Object.entries(results).map(
    ([name, r]) =>
      `| ${name} | ${r.opsPerSec.toLocaleString('en-US')} | ${(r.opsPerSec / base).toFixed(2)}× |`,
  );
  const markdown = [
    `keys: ${KEYS} distinct live keys, node ${process.version}, median of 5 alternating 1 s rounds (sink ${sink & 1})`,
    '',
    '| variant | verifications/s | vs bare HMAC |',
    '| --- | ---: | ---: |',
    ...rows,
  ].join('\n');
  return { name: 'keys', node: process.version, date: new Date().toISOString(), results, markdown };
}
