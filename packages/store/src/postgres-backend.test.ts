import { randomBytes } from 'node:crypto';
import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from './create-store.js';
import { assertSchemaName, dropPostgresSchema, openPostgresBackend } from './postgres-backend.js';
import type { Database } from './schema.js';
import { accountFixture, eventFixture, webhookEndpointFixture } from './test-kit/store-fixtures.js';
import { postgresSuiteGate, postgresTestDatabases, postgresTestUrl } from './test-kit/test-databases.js';
import {
  inDueOrder,
  POSTGRES_CLAIM,
  POSTGRES_COMPLETE,
  POSTGRES_COMPLETE_SUCCEEDED,
} from './webhook-attempt-writes.js';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a query's plan (EXPLAIN, not run), as "Node Type" or "Node Type on index". */
async function planNodes(db: Kysely<Database>, text: string, params: unknown[]): Promise<string[]> {
  const { rows } = await db.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    CompiledQuery.raw(`explain (format json) ${text}`, params),
  );
  const out: string[] = [];
  const walk = (n: PlanNode) => {
    out.push(n['Index Name'] ? `${n['Node Type']} on ${n['Index Name']}` : n['Node Type']);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk((rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan);
  return out;
}

describe('PostgreSQL schema names', () => {
  it('accepts plain lower-case identifiers only', () => {
    for (const ok of ['public', 'gatehouse', '_x', 'gh_test_0a1b', 'a'.repeat(63)]) {
      expect(() => assertSchemaName(ok)).not.toThrow();
    }
    for (const bad of ['', 'Public', '1abc', 'a-b', 'a b', 'x";drop schema public;--', 'a'.repeat(64), 'é']) {
      expect(() => assertSchemaName(bad)).toThrow(TypeError);
    }
  });

  it('refuses a bad schema before connecting anywhere', async () => {
    await expect(
      createStore({ url: 'postgres://nobody@192.0.2.1:1/none', schema: 'Bad-Name' }),
    ).rejects.toThrow(TypeError);
    await expect(dropPostgresSchema('postgres://nobody@192.0.2.1:1/none', 'x;y')).rejects.toThrow(TypeError);
    await expect(dropPostgresSchema('postgres://nobody@192.0.2.1:1/none', 'public')).rejects.toThrow(
      TypeError,
    );
  });
});

const gate = await postgresSuiteGate('postgres backend');

describe.skipIf(gate.skip)('PostgreSQL backend', () => {
  const databases = postgresTestDatabases(postgresTestUrl);
  beforeAll(() => {
    if (gate.failure) throw gate.failure;
  });
  afterAll(() => databases.dropAll());

  it('returns BIGINT as numbers on its own pool without changing pg globally', async () => {
    const store = await (await databases.create()).open();
    await store.migrate();
    const row = await store.appendAudit({
      id: 'aud_01JBIGINT0000000000000000',
      createdAt: 1_734_567_890_123,
      accountId: null,
      actorType: 'system',
      actorId: 'system',
      action: 'bigint.check',
      targetType: null,
      targetId: null,
      data: {},
      ip: null,
      requestId: null,
    });
    const read = await store.getAudit(row.id);
    expect(read?.createdAt).toBe(1_734_567_890_123);
    expect(read?.seq).toBe(1);
    expect(pg.types.getTypeParser(20)('42')).toBe('42');
  });

  it('leaves room on webhook_deliveries pages, so a claim updates the row in place (HOT)', async () => {
    const schema = `gh_test_ff_${randomBytes(5).toString('hex')}`;
    const store = await createStore({ url: postgresTestUrl, schema });
    const client = new pg.Client({ connectionString: postgresTestUrl });
    try {
      await store.migrate();
      await client.connect();
      const { rows } = await client.query(
        `select c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and c.relname = 'webhook_deliveries'`,
        [schema],
      );
      expect(rows[0]?.reloptions).toEqual(['fillfactor=50']);
    } finally {
      await client.end();
      await store.close();
      await dropPostgresSchema(postgresTestUrl, schema);
    }
  });

  it('plans the outbox claim and completion by index before its statistics know of a backlog (no scan of it)', async () => {
    const schema = `gh_test_plan_${randomBytes(5).toString('hex')}`;
    const store = await createStore({ url: postgresTestUrl, schema });
    const backend = openPostgresBackend(postgresTestUrl, schema);
    const db = backend.db;
    try {
      await store.migrate();
      const account = accountFixture();
      await store.insertAccount(account);
      const endpoint = webhookEndpointFixture(account.id);
      await store.insertWebhookEndpoint(endpoint);
      const event = eventFixture(account.id);
      await store.insertEvent(event);
      const T = 1_760_000_000_000;
      const insert = (status: string, n: number, from: number) =>
        db.executeQuery(
          CompiledQuery.raw(
            `insert into webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
              select 'del_' || $4 || '_' || g, $1, $2, $3, 0, case when $3 = 'pending' then $5::bigint + g end, $5
              from generate_series(1, $6) as g`,
            [event.id, endpoint.id, status, from, T, n],
          ),
        );
      // A backlog that the statistics do not know of yet (autovacuum has not analyzed the table
      // since it arrived): the planner takes the pending rows for a few dozen.
      await insert('succeeded', 2000, 1);
      await insert('pending', 20_000, 2);

      const claimParams = ['w', T + 600_000, T + 30_000, 256, []];
      const scansAll = (plan: string[]) => plan.filter((n) => n.startsWith('Bitmap') || n === 'Sort');
      // the situation this guards against: planned as it comes, the claim reads every due row
      // into a bitmap and sorts them all
      expect(scansAll(await planNodes(db, POSTGRES_CLAIM, claimParams))).not.toEqual([]);
      const claim = await inDueOrder(db, (tx) => planNodes(tx, POSTGRES_CLAIM, claimParams));
      // the pending index read in due order, stopped by the LIMIT: no bitmap of every due row, no sort
      expect(claim).toContain('Index Scan on webhook_deliveries_pending_due_idx');
      expect(scansAll(claim)).toEqual([]);
      // inside a caller's transaction, the caller's own setting is put back afterwards, also
      // when the claim throws
      const setting = async (tx: Kysely<Database>) =>
        (
          await tx.executeQuery<{ on: string }>(
            CompiledQuery.raw(`select current_setting('enable_bitmapscan') as on`),
          )
        ).rows[0]?.on;
      await db.transaction().execute(async (tx) => {
        await inDueOrder(tx, async () => {});
        expect(await setting(tx)).toBe('on');
        await tx.executeQuery(CompiledQuery.raw(`set local enable_bitmapscan = off`));
        await inDueOrder(tx, async () => {});
        expect(await setting(tx)).toBe('off');
        await tx.executeQuery(CompiledQuery.raw(`set local enable_bitmapscan = on`));
        await expect(
          inDueOrder(tx, async (inner) => {
            expect(await setting(inner)).toBe('off');
            throw new Error('claim failed');
          }),
        ).rejects.toThrow('claim failed');
        expect(await setting(tx)).toBe('on');
      });

      const ids = Array.from({ length: 128 }, (_, i) => `del_2_${i + 1}`);
      const column = (v: unknown) => ids.map(() => v);
      const completeParams = [
        ids,
        column('w'),
        column('succeeded'),
        column(1),
        column(null),
        column(T),
        column(T),
        column(200),
        column(1.5),
        column(null),
        column('ok'),
        column(1),
      ];
      // the batch found by primary key, never by reading the pending index: alone, and inside
      // the outbox's one statement for successes (archive, update, endpoints' failure runs)
      for (const text of [POSTGRES_COMPLETE, POSTGRES_COMPLETE_SUCCEEDED]) {
        const complete = await planNodes(db, text, completeParams);
        expect(complete.some((n) => n.endsWith('on webhook_deliveries_pkey'))).toBe(true);
        expect(complete.filter((n) => n.includes('pending_due_idx'))).toEqual([]);
      }
    } finally {
      await backend.close();
      await store.close();
      await dropPostgresSchema(postgresTestUrl, schema);
    }
  });
});
