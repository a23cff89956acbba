import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Mutex } from './mutex.js';

/**
 * The code of a worker thread holding its own better-sqlite3 connection to a SQLite file
 * (CommonJS, run with `eval`, so it needs no file of its own next to the compiled or the
 * source module). `handlers` is JavaScript defining `const handlers = { op(args) { … } }`;
 * it may use `db` and `prepared(sql)` (statements prepared on first use, so a file whose
 * table is missing fails the call, not the worker). A handler's return value is the reply.
 */
function workerSource(handlers: string): string {
  return `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 5000 });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
const statements = new Map();
const prepared = (sql) => {
  let st = statements.get(sql);
  if (st === undefined) {
    st = db.prepare(sql);
    statements.set(sql, st);
  }
  return st;
};
${handlers}
parentPort.on('message', (m) => {
  if (m.op === 'close') {
    db.close();
    parentPort.postMessage({ id: m.id, ok: true });
    return;
  }
  try {
    parentPort.postMessage({ id: m.id, ok: true, result: handlers[m.op](m.args) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, code: err && err.code ? String(err.code) : 'SQLITE_ERROR' });
  }
});
`;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  code?: string;
}

export interface SqliteWorker {
  /**
   * Runs `op` on the worker's connection while holding the file's in-process mutex. Rejects
   * with `<what> failed (<SQLite error code>)` when the handler throws, and when the worker
   * dies meanwhile (it is started again on the next call).
   */
  call<T>(op: string, args: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * A worker thread with its own connection to a SQLite file, for statements that would
 * otherwise run on the event loop: they run beside it, so the work that queued them neither
 * waits for them nor shares their CPU time. Each call holds `fileMutex`, the lock the store's
 * own connections to the file take turns behind: the store then waits for a call
 * asynchronously instead of meeting SQLite's busy lock, whose handler sleeps on the event loop
 * (other processes still meet it, with its 5 s timeout). The worker is started on first use,
 * unreferenced while idle (an idle worker does not keep the process alive), and started again
 * after it dies; the call it held is reported failed, so the caller keeps and retries its work.
 */
export function openSqliteWorker(options: {
  file: string;
  /** JavaScript that defines `handlers` (see workerSource) */
  handlers: string;
  /** names the failure in errors: "<what> failed (…)" */
  what: string;
  fileMutex?: Mutex | undefined;
}): SqliteWorker {
  const source = workerSource(options.handlers);
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const { file, what, fileMutex } = options;
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  function start(): Worker {
    const w = new Worker(source, { eval: true, workerData: { file, driver } });
    w.unref();
    w.on('message', (reply: Reply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(`${what} failed (${reply.code ?? 'unknown'})`));
    });
    w.on('error', () => failAll(new Error(`${what} failed (worker error)`)));
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      failAll(new Error(`${what} failed (worker stopped)`));
    });
    return w;
  }

  function send<T>(op: string, args: unknown): Promise<T> {
    worker ??= start();
    const id = nextId++;
    const w = worker;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      // a pending reply keeps the process alive until the call is done
      if (pending.size === 1) w.ref();
      w.postMessage({ id, op, args });
    }).finally(() => {
      if (pending.size === 0) w.unref();
    });
  }

  return {
    call<T>(op: string, args: unknown): Promise<T> {
      if (fileMutex === undefined) return send<T>(op, args);
      return fileMutex.lock().then((release) => send<T>(op, args).finally(release));
    },
    async close() {
      const w = worker;
      if (w === undefined) return;
      await send('close', null).catch(() => {});
      worker = undefined;
      await w.terminate();
    },
  };
}
