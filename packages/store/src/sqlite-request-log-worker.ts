import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Mutex } from './mutex.js';
import {
  flattenRequestLogRow,
  REQUEST_LOG_COLUMNS,
  REQUEST_LOG_WIDTH as WIDTH,
} from './request-log-insert.js';
import type { RequestLogBatchWriter, RequestLogRow } from './types.js';

/**
 * The worker's code (CommonJS, run with `eval`, so it needs no file of its own next to the
 * compiled or the source module). It holds its own better-sqlite3 connection to the file and
 * inserts each batch in one transaction with prepared multi-row statements.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 5000 });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
const WIDTH = ${WIDTH};
const COLUMNS = '${REQUEST_LOG_COLUMNS}';
const SIZES = [64, 16, 4, 1];
const tuple = '(' + new Array(WIDTH).fill('?').join(', ') + ')';
const statements = new Map();
// prepared on first use, so a file whose table is missing fails the batch, not the worker
const statement = (n) => {
  let st = statements.get(n);
  if (st === undefined) {
    st = db.prepare('insert into request_logs (' + COLUMNS + ') values ' + new Array(n).fill(tuple).join(', ') + ' on conflict (id) do nothing');
    statements.set(n, st);
  }
  return st;
};
const insertAll = db.transaction((values) => {
  const rows = values.length / WIDTH;
  let i = 0;
  for (const n of SIZES) {
    while (rows - i >= n) {
      statement(n).run(values.slice(i * WIDTH, (i + n) * WIDTH));
      i += n;
    }
  }
});
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    parentPort.postMessage({ id: m.id, ok: true });
    return;
  }
  try {
    insertAll(m.values);
    parentPort.postMessage({ id: m.id, ok: true });
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, code: err && err.code ? String(err.code) : 'SQLITE_ERROR' });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  code?: string;
}

/**
 * A request-log writer on a worker thread with its own connection to the SQLite file: the
 * inserts (several microseconds a line, mostly index upkeep) run beside the event loop instead
 * of on it, so the requests being logged neither wait for them nor share their CPU time. Each
 * batch is written while holding `fileMutex`, the lock the store's own connections to the file
 * take turns behind: the store then waits for a batch asynchronously instead of meeting
 * SQLite's busy lock, whose handler sleeps on the event loop (other processes still meet it,
 * with its 5 s timeout). A worker that dies is started again
 * on the next write; the batch it held is reported failed, so the caller keeps and retries it.
 */
export function openSqliteRequestLogWriter(file: string, fileMutex?: Mutex): RequestLogBatchWriter {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  function start(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    w.unref();
    w.on('message', (reply: Reply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (reply.ok) p.resolve();
      else p.reject(new Error(`request log write failed (${reply.code ?? 'unknown'})`));
    });
    w.on('error', () => failAll(new Error('request log writer failed')));
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      failAll(new Error('request log writer stopped'));
    });
    return w;
  }

  function send(message: { values?: unknown[]; close?: true }): Promise<void> {
    worker ??= start();
    const id = nextId++;
    const w = worker;
    return new Promise<void>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      // a pending reply keeps the process alive until the batch is written
      if (pending.size === 1) w.ref();
      w.postMessage({ id, ...message });
    }).finally(() => {
      if (pending.size === 0) w.unref();
    });
  }

  return {
    write(rows) {
      if (rows.length === 0) return Promise.resolve();
      const values: unknown[] = new Array(rows.length * WIDTH);
      for (let i = 0; i < rows.length; i++) flattenRequestLogRow(rows[i] as RequestLogRow, values, i * WIDTH);
      if (fileMutex === undefined) return send({ values });
      return fileMutex.lock().then((release) => send({ values }).finally(release));
    },
    async close() {
      const w = worker;
      if (w === undefined) return;
      await send({ close: true }).catch(() => {});
      worker = undefined;
      await w.terminate();
    },
  };
}
