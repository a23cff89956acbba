import type { Mutex } from './mutex.js';
import {
  flattenRequestLogRow,
  REQUEST_LOG_COLUMNS,
  REQUEST_LOG_WIDTH as WIDTH,
} from './request-log-insert.js';
import { openSqliteWorker } from './sqlite-worker.js';
import type { RequestLogBatchWriter, RequestLogRow } from './types.js';

/** The worker's side: each batch in one transaction, with prepared multi-row statements. */
const HANDLERS = `
const WIDTH = ${WIDTH};
const SIZES = [64, 16, 4, 1];
const tuple = '(' + new Array(WIDTH).fill('?').join(', ') + ')';
// one SQL text per statement size, built once
const insertSql = new Map(SIZES.map((n) => [n, 'insert into request_logs (${REQUEST_LOG_COLUMNS}) values ' + new Array(n).fill(tuple).join(', ') + ' on conflict (id) do nothing']));
const insertAll = db.transaction((values) => {
  const rows = values.length / WIDTH;
  let i = 0;
  for (const n of SIZES) {
    while (rows - i >= n) {
      prepared(insertSql.get(n)).run(values.slice(i * WIDTH, (i + n) * WIDTH));
      i += n;
    }
  }
});
const handlers = {
  insert(values) {
    insertAll(values);
    return null;
  },
};
`;

/**
 * A request-log writer on a worker thread with its own connection to the SQLite file (see
 * openSqliteWorker): the inserts, several microseconds a line (mostly index upkeep), run
 * beside the event loop instead of on it. A batch whose worker died is reported failed, so the
 * caller keeps and retries it.
 */
export function openSqliteRequestLogWriter(file: string, fileMutex?: Mutex): RequestLogBatchWriter {
  const worker = openSqliteWorker({ file, handlers: HANDLERS, what: 'request log write', fileMutex });
  return {
    async write(rows) {
      if (rows.length === 0) return;
      const values: unknown[] = new Array(rows.length * WIDTH);
      for (let i = 0; i < rows.length; i++) flattenRequestLogRow(rows[i] as RequestLogRow, values, i * WIDTH);
      await worker.call('insert', values);
    },
    close: () => worker.close(),
  };
}
