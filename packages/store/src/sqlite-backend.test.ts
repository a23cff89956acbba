import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteBackend } from './sqlite-backend.js';

const dir = join(tmpdir(), `gatehouse-sqlite-${randomBytes(4).toString('hex')}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pragma(backend: ReturnType<typeof openSqliteBackend>, name: string): Promise<unknown> {
  const { rows } = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(backend.db);
  return Object.values(rows[0] ?? {})[0];
}

describe('openSqliteBackend', () => {
  it('creates the parent directory and sets WAL, foreign keys, busy timeout and synchronous=NORMAL', async () => {
    const file = join(dir, 'a', 'b', 'gatehouse.db');
    const backend = openSqliteBackend(file);
    try {
      expect(existsSync(file)).toBe(true);
      expect(await pragma(backend, 'journal_mode')).toBe('wal');
      expect(await pragma(backend, 'foreign_keys')).toBe(1);
      expect(await pragma(backend, 'busy_timeout')).toBe(5000);
      expect(await pragma(backend, 'synchronous')).toBe(1); // NORMAL
    } finally {
      await backend.close();
    }
  });

  it('creates the database file, and SQLite its -wal and -shm files, readable by their owner only', async () => {
    const file = join(dir, 'private', 'gatehouse.db');
    const backend = openSqliteBackend(file);
    try {
      await sql`create table t (x integer)`.execute(backend.db);
      await sql`insert into t values (1)`.execute(backend.db);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    } finally {
      await backend.close();
    }
  });

  it('opens :memory: without touching the file system', async () => {
    const backend = openSqliteBackend(':memory:');
    try {
      expect(existsSync(':memory:')).toBe(false);
      expect(await pragma(backend, 'foreign_keys')).toBe(1);
    } finally {
      await backend.close();
    }
  });
});
