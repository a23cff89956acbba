import { type Clock, redactSecrets } from '@gatehouse/core';
import type { RequestLogBatchWriter, RequestLogRow, Store } from '@gatehouse/store';
import type { RequestLogEntry, RequestLogSink } from './request-log.js';

const DAY_MS = 86_400_000;
const MAX_TEXT = 512;

export interface RequestLogWriterOptions {
  store: Store;
  /**
   * Where batches go (the store's `openRequestLogWriter()`: a worker thread for a SQLite
   * file); default: a transaction on `store`. Closed by `stop()` after the last batch.
   */
  batchWriter?: RequestLogBatchWriter;
  clock: Clock;
  /** write what is buffered at least this often (default 1 s) */
  flushIntervalMs?: number;
  /** write as soon as this many lines are buffered (default 500) */
  batchSize?: number;
  /** most lines written in one transaction (default 1 000: on the store's own SQLite connection a transaction blocks the event loop) */
  maxPerFlush?: number;
  /** lines kept in memory while the store is slow or down; beyond it new lines are dropped (default 100 000) */
  maxBuffered?: number;
  /** lines older than this are deleted by the retention job (default 30) */
  retentionDays?: number;
  /** how often the retention job runs (default hourly); its first run is after `retentionFirstRunMs` */
  retentionIntervalMs?: number;
  retentionFirstRunMs?: number;
  /** rows per DELETE in the retention job (default 5 000) */
  retentionBatch?: number;
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * The request log's writer. `record()` is on every request's path, so it only pushes onto an
 * array; lines are written off that path in one transaction per flush (every second, or as
 * soon as a batch is full), with multi-row inserts. The buffer is bounded: while the store
 * is down, lines wait (and a failed batch is put back) up to `maxBuffered`, then new lines
 * are dropped and counted, with one warning per interval. `stop()` writes everything left.
 *
 * Lines are scrubbed as they are written, not when recorded: the route loses any query
 * string, and anything key-shaped in the route or user agent becomes its hint, whatever the
 * caller handed in.
 */
export class BatchingRequestLogWriter implements RequestLogSink {
  private buffer: RequestLogEntry[] = [];
  private flushing: Promise<void> | undefined;
  private kicked = false;
  /** after a failed write only the interval retries, so a full buffer cannot spin */
  private failing = false;
  private stopped = false;
  private droppedSinceWarning = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRun: Promise<number> | undefined;
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxPerFlush: number;
  private readonly maxBuffered: number;
  private readonly retentionMs: number;
  private readonly retentionIntervalMs: number;
  private readonly retentionFirstRunMs: number;
  private readonly retentionBatch: number;

  /** lines written, dropped (buffer full) and failed flushes since start */
  readonly stats = { written: 0, dropped: 0, failedFlushes: 0, deleted: 0 };

  constructor(private readonly options: RequestLogWriterOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.batchSize = options.batchSize ?? 500;
    this.maxPerFlush = Math.max(options.maxPerFlush ?? 1000, this.batchSize);
    this.maxBuffered = options.maxBuffered ?? 100_000;
    this.retentionMs = (options.retentionDays ?? 30) * DAY_MS;
    this.retentionIntervalMs = options.retentionIntervalMs ?? 3_600_000;
    this.retentionFirstRunMs = options.retentionFirstRunMs ?? 60_000;
    this.retentionBatch = options.retentionBatch ?? 5000;
  }

  start(): void {
    this.flushTimer = setInterval(() => this.tick(), this.flushIntervalMs);
    this.flushTimer.unref();
    // A first run soon after start, so an instance restarted more often than hourly still
    // enforces retention; then every interval.
    this.retentionTimer = setTimeout(() => {
      void this.runRetention();
      this.retentionTimer = setInterval(() => void this.runRetention(), this.retentionIntervalMs);
      this.retentionTimer.unref();
    }, this.retentionFirstRunMs);
    this.retentionTimer.unref();
  }

  /** Hot path: no await, no allocation beyond the caller's entry. */
  record(entry: RequestLogEntry): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.stats.dropped++;
      this.droppedSinceWarning++;
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= this.batchSize && !this.kicked && !this.failing && !this.stopped) {
      this.kicked = true;
      setImmediate(() => {
        this.kicked = false;
        void this.flush();
      });
    }
  }

  /** Lines waiting to be written. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Writes what is buffered (at most `maxPerFlush` lines, in one transaction) and keeps going
   * while a full batch is waiting. Never throws: a failed batch goes back to the buffer.
   */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch =
        this.buffer.length <= this.maxPerFlush ? this.buffer : this.buffer.splice(0, this.maxPerFlush);
      if (batch === this.buffer) this.buffer = [];
      try {
        const rows = batch.map(toStoredRow);
        const writer = this.options.batchWriter;
        if (writer !== undefined) await writer.write(rows);
        else await this.options.store.transaction((tx) => tx.insertRequestLogs(rows));
        this.stats.written += batch.length;
        this.failing = false;
      } catch (err) {
        this.stats.failedFlushes++;
        this.failing = true;
        this.requeue(batch);
        this.options.logger?.error({ err, pending: this.buffer.length }, 'request log flush failed');
        return;
      }
      // Between flushes only a full batch is worth another transaction right away, and not
      // before waiting requests had their turn (SQLite writes block the event loop).
      if (this.buffer.length < this.batchSize && !this.stopped) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Puts a failed batch back in front; beyond the bound the newest lines are dropped. */
  private requeue(batch: RequestLogEntry[]): void {
    const merged = batch.concat(this.buffer);
    const excess = merged.length - this.maxBuffered;
    if (excess > 0) {
      merged.length = this.maxBuffered;
      this.stats.dropped += excess;
      this.droppedSinceWarning += excess;
    }
    this.buffer = merged;
  }

  private tick(): void {
    if (this.droppedSinceWarning > 0) {
      this.options.logger?.warn(
        { dropped: this.droppedSinceWarning, buffered: this.buffer.length },
        'request log buffer full: lines dropped',
      );
      this.droppedSinceWarning = 0;
    }
    void this.flush();
  }

  /** Deletes lines older than the retention period, in batches; returns how many. */
  runRetention(): Promise<number> {
    this.retentionRun ??= (async () => {
      const before = this.options.clock.now() - this.retentionMs;
      let total = 0;
      try {
        for (;;) {
          const n = await this.options.store.deleteRequestLogsBefore(before, this.retentionBatch);
          total += n;
          if (n < this.retentionBatch || this.stopped) break;
        }
      } catch (err) {
        this.options.logger?.error({ err }, 'request log retention failed');
      }
      this.stats.deleted += total;
      return total;
    })().finally(() => {
      this.retentionRun = undefined;
    });
    return this.retentionRun;
  }

  /**
   * Stops the timers and writes every buffered line (graceful shutdown loses nothing while
   * the store answers). A store that fails is tried again after 0.1, 0.5 and 2 s (a short
   * outage, a failover); after that the lines are given up on, with an error.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.flushTimer);
    clearTimeout(this.retentionTimer);
    clearInterval(this.retentionTimer);
    this.flushTimer = undefined;
    this.retentionTimer = undefined;
    await this.retentionRun;
    for (let attempt = 0; this.buffer.length + (this.flushing ? 1 : 0) > 0; attempt++) {
      await this.flushing;
      await this.flush();
      const wait = SHUTDOWN_RETRY_MS[attempt];
      if (this.buffer.length === 0 || wait === undefined) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (this.buffer.length > 0) {
      this.options.logger?.error({ lost: this.buffer.length }, 'request log lines lost at shutdown');
    }
    await this.options.batchWriter?.close();
  }
}

/** Waits before the retries of a shutdown's last write when the store fails. */
const SHUTDOWN_RETRY_MS = [100, 500, 2_000];

/** The row as stored: no query string, nothing key-shaped, bounded lengths, a finite latency. */
function toStoredRow(e: RequestLogEntry): RequestLogRow {
  const q = e.route.search(/[?#]/);
  return {
    id: e.id,
    createdAt: e.createdAt,
    accountId: e.accountId,
    keyId: e.keyId,
    mode: e.mode,
    method: e.method.slice(0, 16),
    route: scrub(q < 0 ? e.route : e.route.slice(0, q)),
    status: e.status,
    latencyMs: Number.isFinite(e.latencyMs) ? e.latencyMs : 0,
    clientIp: e.clientIp === null ? null : e.clientIp.slice(0, 64),
    userAgent: e.userAgent === null ? null : scrub(e.userAgent),
    errorCode: e.errorCode === null ? null : e.errorCode.slice(0, 64),
  };
}

function scrub(text: string): string {
  return redactSecrets(text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text);
}
