import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from './create-store.js';
import { assertSchemaName, dropPostgresSchema } from './postgres-backend.js';
import { postgresSuiteGate, postgresTestDatabases, postgresTestUrl } from './test-kit/test-databases.js';

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
});
