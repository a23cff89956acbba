import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatehouse, type RunningCli, startGatehouse } from './cli-flow.js';

// A real `gatehouse start` delivers 1,000 events to a receiver on 127.0.0.1 while the test
// SIGKILLs it several times and starts it again on the same database (a SQLite file in the
// data directory, or a PostgreSQL schema of its own, dropped after). Every published event
// must reach the receiver at least once; repeats carry the same webhook-id and body.

const EVENTS = 1000;
const KILLS = 4;
const PG_URL = process.env['GATEHOUSE_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PostgreSQL here? Under CI=true an unreachable server fails the run instead of skipping. */
async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') throw new Error(`PostgreSQL unreachable under CI=true: ${String(err)}`);
    console.warn('PostgreSQL unreachable: the PostgreSQL crash run is skipped (it fails under CI=true)');
    return false;
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`webhook delivery survives SIGKILL of the dispatching process (${dialect})`, async () => {
    const available = dialect === 'sqlite' || (await pgReachable());
    const schema = `gh_e2e_wh_${randomBytes(5).toString('hex')}`;
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let server: RunningCli | undefined;
    let receiver: Server;
    let receiverUrl: string;
    const received = new Map<string, { count: number; body: string }>();
    let badSignatures = 0;
    let secret: string;

    beforeAll(async () => {
      if (!available) return;
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-webhooks-'));
      const keyring = `pepper:1:${randomBytes(32).toString('base64')},data:1:${randomBytes(32).toString('base64')}`;
      env = {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        GATEHOUSE_DATA_DIR: dir,
        GATEHOUSE_KEYRING: keyring,
        GATEHOUSE_LOG_LEVEL: 'warn',
        GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS: '127.0.0.1',
        GATEHOUSE_WEBHOOK_LEASE_SECONDS: '2',
        ...(dialect === 'postgres'
          ? { GATEHOUSE_DATABASE_URL: PG_URL, GATEHOUSE_DATABASE_SCHEMA: schema }
          : {}),
      };
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const id = String(req.headers['webhook-id']);
          try {
            new Webhook(secret).verify(body, {
              'webhook-id': id,
              'webhook-timestamp': String(req.headers['webhook-timestamp']),
              'webhook-signature': String(req.headers['webhook-signature']),
            });
          } catch {
            badSignatures++;
          }
          const seen = received.get(id);
          if (seen && seen.body !== body) badSignatures++;
          received.set(id, { count: (seen?.count ?? 0) + 1, body });
          // a little latency, so attempts are in flight when the process dies
          setTimeout(() => res.writeHead(200).end('ok'), 2);
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });

    afterAll(async () => {
      await server?.stop();
      if (receiver) {
        receiver.closeAllConnections();
        await new Promise<void>((r) => receiver.close(() => r()));
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (available && dialect === 'postgres') await dropSchema(schema);
    });

    it.skipIf(!available)(
      'delivers every event at least once across four SIGKILLs',
      { timeout: 180_000 },
      async () => {
        const admin = await gatehouse(['admin-keys', 'create', '--json'], env);
        expect(admin.code, admin.stderr).toBe(0);
        const adminKey = JSON.parse(admin.stdout).secret as string;
        const account = await gatehouse(['accounts', 'create', '--name', 'Crash test', '--json'], env);
        const accountId = JSON.parse(account.stdout).id as string;
        server = await startGatehouse([], env);
        const post = async (path: string, body: unknown) => {
          const res = await fetch(`${(server as RunningCli).url}${path}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: res.status, body: (await res.json()) as Record<string, unknown> };
        };
        const endpoint = await post('/v1/webhook_endpoints', {
          account: accountId,
          mode: 'test',
          url: receiverUrl,
          enabled_events: ['payment.*'],
        });
        expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(200);
        secret = endpoint.body['secret'] as string;

        const published: string[] = [];
        let kills = 0;
        let restarting: Promise<void> | undefined;
        const killAndRestart = async () => {
          const victim = server as RunningCli;
          victim.child.kill('SIGKILL');
          await new Promise<void>((r) =>
            victim.child.exitCode !== null ? r() : victim.child.once('exit', () => r()),
          );
          kills++;
          server = await startGatehouse([], env);
        };
        // publish; every ~250 events (and while deliveries are in flight) the process dies
        for (let seq = 0; seq < EVENTS; seq++) {
          if (seq > 0 && seq % 250 === 0 && kills < KILLS - 1) {
            restarting = killAndRestart();
            await restarting;
          }
          for (;;) {
            try {
              const res = await post('/v1/events', {
                account: accountId,
                mode: 'test',
                type: 'payment.succeeded',
                data: { object: { seq } },
              });
              if (res.status === 200) {
                published.push(res.body['id'] as string);
                break;
              }
            } catch {
              // the process is down: wait for it
            }
            await sleep(50);
          }
        }
        // one more kill with deliveries outstanding
        await killAndRestart();
        expect(kills).toBe(KILLS);

        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && published.some((id) => !received.has(id))) await sleep(100);
        const missing = published.filter((id) => !received.has(id));
        const repeats = [...received.values()].filter((r) => r.count > 1).length;
        console.info(
          `webhook crash e2e (${dialect}): ${published.length} events, ${kills} SIGKILLs, ${received.size} distinct webhook-ids received, ${repeats} delivered more than once, ${missing.length} missing`,
        );
        expect(missing).toEqual([]);
        expect(badSignatures).toBe(0);
      },
    );
  });
}
