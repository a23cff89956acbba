import { createHash } from 'node:crypto';
import pg from 'pg';
import { assertSchemaName } from './postgres-backend.js';

export interface PostgresNotifierOptions {
  url: string;
  /** the store's schema: channels are namespaced by it, so installations sharing a database do not hear each other */
  schema?: string;
  /** first wait before reconnecting a dropped listening connection (default 100 ms), doubled up to `maxBackoffMs` */
  minBackoffMs?: number;
  /** longest wait between reconnection attempts (default 5 s) */
  maxBackoffMs?: number;
  /** how often a heartbeat is sent through the database to the listening connection (default 250 ms) */
  heartbeatMs?: number;
  /**
   * with no heartbeat heard for this long (default 1 s) the listening connection counts as lost
   * and is replaced: a connection that died silently (a NAT or load balancer dropping an idle
   * flow, a pooler that never delivers) would otherwise look alive while missing every message
   */
  silentMs?: number;
  /** connection problems (never carry the URL's password: pg's errors do not) */
  onError?: (err: unknown) => void;
}

/**
 * PostgreSQL LISTEN/NOTIFY as a small pub/sub, for when there is no Redis: one dedicated
 * connection listens (and reconnects with backoff when it drops); notifications go out on a
 * separate one so a publisher is never stuck behind a reconnect.
 */
export interface PostgresNotifier {
  /**
   * Listens on `channel`; resolves once the LISTEN is in place, or at once while the listening
   * connection is down (or as soon as it is found lost): the subscription is kept, and the
   * replacement connection LISTENs on it before anyone is told. `onResync` is called after the
   * listening connection came back: notifications sent while it was down are lost, so whatever
   * they kept fresh must be refreshed. Returns the unsubscribe.
   */
  subscribe(
    channel: string,
    handler: (message: string) => void,
    onResync?: () => void,
  ): Promise<() => Promise<void>>;
  publish(channel: string, message: string): Promise<void>;
  /** false while the listening connection is down or silent (notifications may be missed) */
  readonly live: boolean;
  close(): Promise<void>;
}

/** PostgreSQL's identifier limit: a longer channel name would be truncated, and could collide. */
const MAX_CHANNEL_BYTES = 63;

/** The PostgreSQL channel for a logical channel in a schema: readable when short enough, hashed otherwise. */
export function postgresChannelName(schema: string, channel: string): string {
  const plain = `gatehouse:${schema}:${channel}`;
  if (Buffer.byteLength(plain) <= MAX_CHANNEL_BYTES) return plain;
  return `gatehouse:${createHash('sha256').update(`${schema}\0${channel}`).digest('hex').slice(0, 40)}`;
}

interface Subscription {
  handler: (message: string) => void;
  onResync: (() => void) | undefined;
}

interface Channel {
  subs: Set<Subscription>;
  /** settles when the first subscriber's LISTEN is in place, or its connection was lost */
  listened: Promise<void>;
}

export async function openPostgresNotifier(options: PostgresNotifierOptions): Promise<PostgresNotifier> {
  const schema = options.schema ?? 'public';
  assertSchemaName(schema);
  const minBackoff = options.minBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  const onError = options.onError ?? (() => {});
  const heartbeatMs = options.heartbeatMs ?? 250;
  const silentMs = options.silentMs ?? 1_000;
  const heartbeatChannel = postgresChannelName(schema, '_heartbeat');
  const publisher = new pg.Pool({ connectionString: options.url, max: 2, idleTimeoutMillis: 30_000 });
  // an idle publishing connection the server drops is replaced on the next publish
  publisher.on('error', onError);
  /** PostgreSQL channel name → subscriptions on it; every connection LISTENs on all of them */
  const channels = new Map<string, Channel>();
  let client: pg.Client | null = null;
  let live = false;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  let backoff = minBackoff;
  /** when the listening connection last proved it delivers (a heartbeat, or connecting) */
  let lastHeard = 0;

  /**
   * Opens a listening connection, LISTENs on the heartbeat and every channel, and makes it the
   * current one in the same turn as its last LISTEN: a channel subscribed before then is in
   * the map, which the loop walks live; one subscribed after LISTENs on the new connection.
   */
  async function connect(): Promise<void> {
    // named, so an operator (or a test) can tell the listening connection in pg_stat_activity
    const next = new pg.Client({
      connectionString: options.url,
      application_name: 'gatehouse-listen',
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    next.on('error', (err) => {
      onError(err);
      lost(next);
    });
    next.on('end', () => lost(next));
    next.on('notification', (n) => {
      if (n.channel === heartbeatChannel) {
        if (client === next) lastHeard = Date.now();
        return;
      }
      const subs = channels.get(n.channel)?.subs;
      if (subs === undefined) return;
      for (const sub of subs) sub.handler(n.payload ?? '');
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${quote(heartbeatChannel)}`);
      for (const name of channels.keys()) await next.query(`LISTEN ${quote(name)}`);
    } catch (err) {
      next.removeAllListeners('end');
      await next.end().catch(() => {});
      throw err;
    }
    if (closed) {
      next.removeAllListeners('end');
      void next.end().catch(() => {});
      return;
    }
    client = next;
    live = true;
    lastHeard = Date.now();
  }

  /**
   * LISTENs on `name` with the current connection. A failure means that connection is broken:
   * it is replaced, and its replacement LISTENs on every channel in the map, this one included.
   */
  async function listen(name: string): Promise<void> {
    const on = client;
    if (on === null) return;
    try {
      await on.query(`LISTEN ${quote(name)}`);
    } catch (err) {
      // already replaced: the connection's own error was reported
      if (client !== on) return;
      onError(err);
      lost(on);
    }
  }

  function lost(which: pg.Client): void {
    if (client !== which) return;
    client = null;
    live = false;
    which.removeAllListeners('notification');
    void which.end().catch(() => {});
    schedule();
  }

  function schedule(): void {
    if (closed || retry !== null) return;
    const wait = backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    retry = setTimeout(() => {
      retry = null;
      connect().then(
        () => {
          if (closed) return;
          backoff = minBackoff;
          // whatever was sent while we were away is gone: everyone refreshes
          for (const { subs } of channels.values()) for (const sub of subs) sub.onResync?.();
        },
        (err: unknown) => {
          onError(err);
          schedule();
        },
      );
    }, wait);
    retry.unref();
  }

  await connect();

  // Every beat goes out through the publishing pool and must come back on the listening
  // connection; one that has not been heard from for `silentMs` is replaced (and everyone
  // resyncs), as if it had dropped.
  const heartbeat = setInterval(() => {
    const current = client;
    if (closed || current === null) return;
    if (Date.now() - lastHeard > silentMs) {
      onError(new Error('the listening connection went silent: reconnecting'));
      lost(current);
      return;
    }
    publisher.query('select pg_notify($1, $2)', [heartbeatChannel, '']).catch(onError);
  }, heartbeatMs);
  heartbeat.unref();

  return {
    get live() {
      return live && Date.now() - lastHeard <= silentMs;
    },
    async subscribe(channel, handler, onResync) {
      const name = postgresChannelName(schema, channel);
      const sub: Subscription = { handler, onResync };
      let entry = channels.get(name);
      if (entry === undefined) {
        // in the map before any await, so a reconnect from now on LISTENs on it
        entry = { subs: new Set(), listened: Promise.resolve() };
        channels.set(name, entry);
        entry.listened = listen(name);
      }
      // added before waiting, so a reconnect meanwhile resyncs it too
      entry.subs.add(sub);
      // a second subscriber waits for the first one's LISTEN as well
      await entry.listened;
      const { subs } = entry;
      return async () => {
        subs.delete(sub);
        if (subs.size > 0 || channels.get(name)?.subs !== subs) return;
        channels.delete(name);
        await client?.query(`UNLISTEN ${quote(name)}`).catch(() => {});
      };
    },
    async publish(channel, message) {
      await publisher.query('select pg_notify($1, $2)', [postgresChannelName(schema, channel), message]);
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      if (retry !== null) clearTimeout(retry);
      const last = client;
      client = null;
      live = false;
      channels.clear();
      if (last !== null) {
        last.removeAllListeners('end');
        await last.end().catch(() => {});
      }
      await publisher.end();
    },
  };
}

/** A double-quoted identifier (channel names are built from a checked schema name and our constants). */
function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
