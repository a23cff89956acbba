import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresNotifier, type PostgresNotifier, postgresChannelName } from './postgres-notifier.js';
import { postgresSuiteGate, postgresTestUrl } from './test-kit/test-databases.js';

describe('PostgreSQL channel names', () => {
  it('are namespaced by schema, and hashed when they would pass the 63-byte identifier limit', () => {
    expect(postgresChannelName('gh_a', 'keys:invalidate')).toBe('gatehouse:gh_a:keys:invalidate');
    expect(postgresChannelName('gh_b', 'keys:invalidate')).not.toBe(
      postgresChannelName('gh_a', 'keys:invalidate'),
    );
    const long1 = postgresChannelName('a'.repeat(63), 'keys:invalidate');
    const long2 = postgresChannelName(`${'a'.repeat(62)}b`, 'keys:invalidate');
    expect(Buffer.byteLength(long1)).toBeLessThanOrEqual(63);
    expect(long1).not.toBe(long2);
  });

  it('refuses a bad schema before connecting anywhere', async () => {
    await expect(
      openPostgresNotifier({ url: 'postgres://nobody@192.0.2.1:1/none', schema: 'x";drop' }),
    ).rejects.toThrow(TypeError);
  });
});

const gate = await postgresSuiteGate('postgres notifier');

/** Resolves with the next message `subscribe` delivers, or rejects after `ms`. */
function inbox() {
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  return {
    messages,
    handler: (m: string) => {
      messages.push(m);
      for (const w of waiters.splice(0)) w();
    },
    async next(count: number, ms = 3000): Promise<string[]> {
      const deadline = Date.now() + ms;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${messages.length} of ${count} messages`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return messages;
    },
  };
}

/** The backends of notifiers whose listening connection last LISTENed on `channel`. */
async function listeningPids(admin: pg.Client, channel: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = 'gatehouse-listen' and query like $1`,
    [`%${channel}%`],
  );
  return rows.map((r) => r.pid);
}

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(gate.skip)('PostgreSQL notifier (LISTEN/NOTIFY)', () => {
  const opened: PostgresNotifier[] = [];
  const open = async (schema: string, backoffMs = 20) => {
    const n = await openPostgresNotifier({
      url: postgresTestUrl,
      schema,
      minBackoffMs: backoffMs,
      maxBackoffMs: backoffMs * 10,
    });
    opened.push(n);
    return n;
  };
  const schema = () => `gh_test_${randomBytes(6).toString('hex')}`;

  /**
   * A notifier listening on `keys:invalidate` that has received 'before' from a second one, and
   * an admin connection (the caller ends it) that sees which backends LISTEN on the channel.
   */
  const listeningPair = async () => {
    const s = schema();
    const listener = await open(s);
    const publisher = await open(s);
    const got = inbox();
    let resyncs = 0;
    await listener.subscribe('keys:invalidate', got.handler, () => resyncs++);
    await publisher.publish('keys:invalidate', 'before');
    await got.next(1);
    const admin = new pg.Client({ connectionString: postgresTestUrl });
    await admin.connect();
    const channel = postgresChannelName(s, 'keys:invalidate');
    return {
      listener,
      publisher,
      got,
      admin,
      resyncs: () => resyncs,
      listening: () => listeningPids(admin, channel),
    };
  };

  beforeAll(() => {
    if (gate.failure) throw gate.failure;
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((n) => n.close()));
  });

  it('delivers a message to every subscriber in the same schema, and to none in another', async () => {
    const s = schema();
    const [a, b, other] = [await open(s), await open(s), await open(schema())];
    const onA = inbox();
    const onB = inbox();
    const onOther = inbox();
    await a.subscribe('keys:invalidate', onA.handler);
    await b.subscribe('keys:invalidate', onB.handler);
    await other.subscribe('keys:invalidate', onOther.handler);
    await b.publish('keys:invalidate', 'key_1');
    await b.publish('keys:invalidate', 'key_2');
    expect(await onA.next(2)).toEqual(['key_1', 'key_2']);
    expect(await onB.next(2)).toEqual(['key_1', 'key_2']);
    await a.publish('elsewhere', 'x');
    await new Promise((r) => setTimeout(r, 200));
    expect(onOther.messages).toEqual([]);
    expect(onA.messages).toHaveLength(2);
  });

  it('stops delivering after unsubscribe', async () => {
    const s = schema();
    const n = await open(s);
    const got = inbox();
    const unsubscribe = await n.subscribe('ch', got.handler);
    await n.publish('ch', 'one');
    await got.next(1);
    await unsubscribe();
    await n.publish('ch', 'two');
    await new Promise((r) => setTimeout(r, 200));
    expect(got.messages).toEqual(['one']);
  });

  it('reconnects when its listening backend is terminated, resyncs, and delivers again', async () => {
    const { listener, publisher, got, admin, resyncs, listening } = await listeningPair();
    try {
      // only the subscribed notifier LISTENs on the channel
      const before = await listening();
      expect(before).toHaveLength(1);
      for (const pid of before) await admin.query('select pg_terminate_backend($1)', [pid]);
      await until(() => !listener.live);
      await until(() => listener.live && resyncs() === 1);
      const after = await listening();
      expect(after).toHaveLength(1);
      expect(after.some((pid) => before.includes(pid))).toBe(false);
    } finally {
      await admin.end();
    }
    await publisher.publish('keys:invalidate', 'after');
    expect(await got.next(2)).toEqual(['before', 'after']);
  });

  it('replaces a listening connection that went silent (its backend stopped, no error, no close)', async () => {
    const { listener, publisher, got, admin, resyncs, listening } = await listeningPair();
    const [stopped] = await listening();
    expect(stopped).toBeDefined();
    // SIGSTOP: the backend neither answers nor closes, as behind a NAT that dropped the flow
    process.kill(stopped as number, 'SIGSTOP');
    try {
      await until(() => !listener.live, 3000);
      await until(() => listener.live && resyncs() === 1, 10_000);
      await publisher.publish('keys:invalidate', 'after');
      expect(await got.next(2)).toEqual(['before', 'after']);
    } finally {
      process.kill(stopped as number, 'SIGCONT');
      await admin.query('select pg_terminate_backend($1)', [stopped]).catch(() => {});
      await admin.end();
    }
  });

  it('keeps a subscription made on a listening connection that is being lost, and LISTENs on every channel once replaced', async () => {
    const s = schema();
    const listener = await open(s);
    const publisher = await open(s);
    const first = inbox();
    const second = inbox();
    const resyncs = { first: 0, second: 0 };
    await listener.subscribe('first', first.handler, () => resyncs.first++);
    const admin = new pg.Client({ connectionString: postgresTestUrl });
    await admin.connect();
    const [stopped] = await listeningPids(admin, postgresChannelName(s, 'first'));
    expect(stopped).toBeDefined();
    // the backend stops: the connection still looks current, but its LISTEN on a new channel
    // is never answered, and the connection is replaced (after a second of silence) meanwhile
    process.kill(stopped as number, 'SIGSTOP');
    try {
      await listener.subscribe('second', second.handler, () => resyncs.second++);
      await until(() => listener.live && resyncs.first === 1, 10_000);
      expect(resyncs.second).toBe(1);
      await publisher.publish('first', 'one');
      await publisher.publish('second', 'two');
      expect(await first.next(1)).toEqual(['one']);
      expect(await second.next(1)).toEqual(['two']);
    } finally {
      process.kill(stopped as number, 'SIGCONT');
      await admin.query('select pg_terminate_backend($1)', [stopped]).catch(() => {});
      await admin.end();
    }
  });

  it('takes a subscription made while the listening connection is down into effect once it is back', async () => {
    const s = schema();
    // a long first backoff keeps the connection down while the subscribe happens
    const listener = await open(s, 500);
    const publisher = await open(s);
    const first = inbox();
    const second = inbox();
    let resyncs = 0;
    await listener.subscribe('first', first.handler);
    const admin = new pg.Client({ connectionString: postgresTestUrl });
    await admin.connect();
    try {
      const before = await listeningPids(admin, postgresChannelName(s, 'first'));
      expect(before).toHaveLength(1);
      await admin.query('select pg_terminate_backend($1)', [before[0]]);
      await until(() => !listener.live);
      await listener.subscribe('second', second.handler, () => resyncs++);
      expect(listener.live).toBe(false);
      await until(() => listener.live && resyncs === 1);
    } finally {
      await admin.end();
    }
    await publisher.publish('first', 'one');
    await publisher.publish('second', 'two');
    expect(await first.next(1)).toEqual(['one']);
    expect(await second.next(1)).toEqual(['two']);
  });
});
