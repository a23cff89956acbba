import type { Mutex } from './mutex.js';
import { REQUEST_LOG_COLUMNS, REQUEST_LOG_WIDTH as WIDTH } from './request-log-insert.js';
import { openSqliteWorker } from './sqlite-worker.js';
import type { RequestLogBatchWriter, RequestLogRow } from './types.js';

/**
 * A batch as it crosses to the worker, as columns: arrays of strings and one Float64Array
 * (created_at, status, latency_ms per line) copy across the thread boundary in about half the
 * time of one mixed array of every value, and this copy is made on the event loop.
 */
interface RequestLogColumns {
  numbers: Float64Array;
  /** id, account_id, key_id, mode, method, route, client_ip, user_agent, error_code */
  strings: (string | null)[][];
}

/** The worker's side: each batch in one transaction, with prepared multi-row statements. */
const HANDLERS = `
const WIDTH = ${WIDTH};
const SIZES = [64, 16, 4, 1];
const tuple = '(' + new Array(WIDTH).fill('?').join(', ') + ')';
// one SQL text per statement size, built once
const insertSql = new Map(SIZES.map((n) => [n, 'insert into request_logs (${REQUEST_LOG_COLUMNS}) values ' + new Array(n).fill(tuple).join(', ') + ' on conflict (id) do nothing']));
const insertAll = db.transaction((batch) => {
  const x = batch.numbers;
  const [id, account, key, mode, method, route, ip, agent, error] = batch.strings;
  const rows = id.length;
  let i = 0;
  for (const n of SIZES) {
    while (rows - i >= n) {
      // in REQUEST_LOG_COLUMNS order
      const values = new Array(n * WIDTH);
      for (let r = 0; r < n; r++) {
        const j = i + r;
        const at = r * WIDTH;
        values[at] = id[j];
        values[at + 1] = x[3 * j];
        values[at + 2] = account[j];
        values[at + 3] = key[j];
        values[at + 4] = mode[j];
        values[at + 5] = method[j];
        values[at + 6] = route[j];
        values[at + 7] = x[3 * j + 1];
        values[at + 8] = x[3 * j + 2];
        values[at + 9] = ip[j];
        values[at + 10] = agent[j];
        values[at + 11] = error[j];
      }
      prepared(insertSql.get(n)).run(values);
      i += n;
    }
  }
});
const handlers = {
  insert(batch) {
    insertAll(batch);
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
      const n = rows.length;
      const numbers = new Float64Array(3 * n);
      const column = () => new Array<string | null>(n);
      const [id, account, key, mode, method, route, ip, agent, error] = [
        column(),
        column(),
        column(),
        column(),
        column(),
        column(),
        column(),
        column(),
        column(),
      ];
      const strings = [id, account, key, mode, method, route, ip, agent, error];
      for (let i = 0; i < n; i++) {
        const r = rows[i] as RequestLogRow;
        numbers[3 * i] = r.createdAt;
        numbers[3 * i + 1] = r.status;
        numbers[3 * i + 2] = r.latencyMs;
        id[i] = r.id;
        account[i] = r.accountId;
        key[i] = r.keyId;
        mode[i] = r.mode;
        method[i] = r.method;
        route[i] = r.route;
        ip[i] = r.clientIp;
        agent[i] = r.userAgent;
        error[i] = r.errorCode;
      }
      await worker.call('insert', { numbers, strings } satisfies RequestLogColumns);
    },
    close: () => worker.close(),
  };
}
