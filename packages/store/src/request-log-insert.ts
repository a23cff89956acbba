import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { RequestLogRow } from './types.js';

/** The request_logs columns in the order `flattenRequestLogRow` writes their values. */
export const REQUEST_LOG_COLUMNS =
  'id, created_at, account_id, key_id, mode, method, route, status, latency_ms, client_ip, user_agent, error_code';
export const REQUEST_LOG_WIDTH = 12;
/** SQLite statement sizes, largest first: a batch of any length uses at most these few texts. */
const SQLITE_CHUNKS = [256, 64, 16, 4, 1] as const;

const sqliteTexts = new Map<number, string>();

function sqliteInsert(rows: number): string {
  let text = sqliteTexts.get(rows);
  if (text === undefined) {
    const tuple = `(${new Array(REQUEST_LOG_WIDTH).fill('?').join(', ')})`;
    text = `insert into request_logs (${REQUEST_LOG_COLUMNS}) values ${new Array(rows).fill(tuple).join(', ')} on conflict (id) do nothing`;
    sqliteTexts.set(rows, text);
  }
  return text;
}

/**
 * One statement for any number of rows: the columns travel as twelve arrays and `unnest`
 * turns them back into rows, so the text never changes and nothing is built per line.
 */
const POSTGRES_INSERT = `insert into request_logs (${REQUEST_LOG_COLUMNS})
  select * from unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::integer[], $9::double precision[], $10::text[], $11::text[], $12::text[])
  on conflict (id) do nothing`;

/** Rows per PostgreSQL statement (arrays, so only the message size bounds it). */
const POSTGRES_CHUNK = 2000;

/**
 * Inserts request-log lines with a few fixed statement texts (prepared once and reused, see
 * the SQLite backend's statement cache) instead of a query built per batch: the request log is
 * written at the request rate, and building the query cost more than running it. A line
 * already stored (same id) is skipped, so a retried batch does not fail.
 */
export async function insertRequestLogRows(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  rows: readonly RequestLogRow[],
): Promise<void> {
  if (dialect === 'postgres') {
    for (let i = 0; i < rows.length; i += POSTGRES_CHUNK) {
      await db.executeQuery(CompiledQuery.raw(POSTGRES_INSERT, postgresColumns(rows, i, POSTGRES_CHUNK)));
    }
    return;
  }
  let i = 0;
  for (const size of SQLITE_CHUNKS) {
    while (rows.length - i >= size) {
      const params: unknown[] = new Array(size * REQUEST_LOG_WIDTH);
      for (let r = 0; r < size; r++)
        flattenRequestLogRow(rows[i + r] as RequestLogRow, params, r * REQUEST_LOG_WIDTH);
      await db.executeQuery(CompiledQuery.raw(sqliteInsert(size), params));
      i += size;
    }
  }
}

/** Writes a row's values into `out` from `at`, in `REQUEST_LOG_COLUMNS` order. */
function flattenRequestLogRow(row: RequestLogRow, out: unknown[], at: number): void {
  out[at] = row.id;
  out[at + 1] = row.createdAt;
  out[at + 2] = row.accountId;
  out[at + 3] = row.keyId;
  out[at + 4] = row.mode;
  out[at + 5] = row.method;
  out[at + 6] = row.route;
  out[at + 7] = row.status;
  out[at + 8] = row.latencyMs;
  out[at + 9] = row.clientIp;
  out[at + 10] = row.userAgent;
  out[at + 11] = row.errorCode;
}

function postgresColumns(rows: readonly RequestLogRow[], from: number, max: number): unknown[] {
  const end = Math.min(rows.length, from + max);
  const columns: unknown[][] = Array.from({ length: REQUEST_LOG_WIDTH }, () => new Array(end - from));
  const row: unknown[] = new Array(REQUEST_LOG_WIDTH);
  for (let i = from; i < end; i++) {
    flattenRequestLogRow(rows[i] as RequestLogRow, row, 0);
    for (let c = 0; c < REQUEST_LOG_WIDTH; c++) (columns[c] as unknown[])[i - from] = row[c];
  }
  return columns;
}
