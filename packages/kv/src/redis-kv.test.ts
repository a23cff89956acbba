import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKv } from './create-kv.js';
import { RedisKv } from './redis-kv.js';
import { eventually } from './test-kit/eventually.js';
import { describeKvConformance, inbox } from './test-kit/kv-conformance.js';
import {
  createRedisHarness,
  describeWithRedis,
  REDIS_TEST_URL,
  type RedisHarness,
  serverNow,
} from './test-kit/redis-harness.js';
import { startTcpProxy, type TcpProxy } from './test-kit/tcp-proxy.js';

const DAY = 86_400_000;

await describeWithRedis('RedisKv', () => {
  describeKvConformance('redis', createRedisHarness);

  describe('on a real Redis', () => {
    let h: RedisHarness;
    beforeEach(async () => {
      h = await createRedisHarness();
    });
    afterEach(async () => {
      await h.dispose();
    });

    /** connections CLIENT LIST shows under a name */
    const connectionsNamed = async (name: string) => {
      const list = (await h.admin.client('LIST')) as string;
      return list
        .split('\n')
        .filter((line) => line.includes(` name=${name} `) || line.includes(` name=${name}:sub `)).length;
    };

    it('is what createKv gives for a redis:// url', async () => {
      const kv = await createKv({ url: REDIS_TEST_URL, prefix: h.prefix });
      h.track(kv);
      expect(kv.kind).toBe('redis');
      expect(kv).toBeInstanceOf(RedisKv);
      await kv.set('k', 'v');
      expect(await h.admin.get(`${h.prefix}k`)).toBe('v');
    });

    it('aligns rate-limit windows to the Redis clock, whatever the local clock says', async () => {
      const kv = await h.open();
      const before = await serverNow(h.admin);
      const localClock = vi.spyOn(Date, 'now').mockReturnValue(0);
      let result: Awaited<ReturnType<typeof kv.rateLimit>>;
      try {
        result = await kv.rateLimit('skew', [{ limit: 5, windowMs: DAY }]);
      } finally {
        localClock.mockRestore();
      }
      const after = await serverNow(h.admin);
      const index = Math.floor(after / DAY);
      expect(Math.floor(before / DAY)).toBe(index);
      expect(await h.admin.get(`${h.prefix}skew:${DAY}:${index}`)).toBe('1');
      expect(result.results[0]?.resetMs).toBeLessThanOrEqual((index + 1) * DAY - before);
      expect(result.results[0]?.resetMs).toBeGreaterThanOrEqual((index + 1) * DAY - after);
    });

    it('opens the subscriber connection on the first subscribe and close() quits both', async () => {
      const name = `gh_test_${randomBytes(4).toString('hex')}`;
      const kv = await RedisKv.connect({ url: REDIS_TEST_URL, prefix: h.prefix, connectionName: name });
      h.track(kv);
      expect(await connectionsNamed(name)).toBe(1);
      await kv.subscribe('ch', () => {});
      expect(await connectionsNamed(name)).toBe(2);
      await kv.close();
      await eventually(async () => expect(await connectionsNamed(name)).toBe(0));
    });

    it('unsubscribes from Redis when the last handler of a channel leaves', async () => {
      const kv = await h.open();
      const subscribers = async () => {
        const [, count] = (await h.admin.pubsub('NUMSUB', `${h.prefix}ch`)) as [string, number];
        return Number(count);
      };
      const first = await kv.subscribe('ch', () => {});
      const second = await kv.subscribe('ch', () => {});
      expect(await subscribers()).toBe(1);
      await first();
      expect(await subscribers()).toBe(1);
      await second();
      expect(await subscribers()).toBe(0);
    });

    it('rejects within the connect timeout when Redis is unreachable', async () => {
      const started = Date.now();
      await expect(createKv({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(/Redis is unreachable/);
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    describe('when the network fails', () => {
      let proxy: TcpProxy;
      let proxiedUrl: string;
      beforeEach(async () => {
        const target = new URL(REDIS_TEST_URL);
        proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
        target.hostname = '127.0.0.1';
        target.port = String(proxy.port);
        proxiedUrl = target.toString();
      });
      afterEach(async () => {
        await proxy.cut();
      });

      it('fails commands quickly while Redis is away, reports errors to onError, and recovers', async () => {
        const errors: Error[] = [];
        const kv = await RedisKv.connect({
          url: proxiedUrl,
          prefix: h.prefix,
          onError: (error) => errors.push(error),
        });
        h.track(kv);
        await kv.set('k', 'v');

        await proxy.cut();
        const started = Date.now();
        await expect(kv.get('k')).rejects.toThrow();
        await expect(kv.rateLimit('k', [{ limit: 1, windowMs: 1_000 }])).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(2_500);
        await eventually(() => expect(errors.length).toBeGreaterThan(0));

        await proxy.restore();
        await eventually(async () => expect(await kv.get('k')).toBe('v'));
      });

      it('rejects a subscribe while Redis is away and succeeds once it is back', async () => {
        const kv = await RedisKv.connect({ url: proxiedUrl, prefix: h.prefix });
        h.track(kv);
        await proxy.cut();
        await expect(kv.subscribe('ch', () => {})).rejects.toThrow(/Redis is unreachable/);

        await proxy.restore();
        const box = inbox();
        await eventually(() => kv.subscribe('ch', box.handler));
        const publisher = await h.open();
        await publisher.publish('ch', 'back');
        expect(await box.received(1)).toEqual(['back']);
      });

      it('resubscribes after the subscriber connection comes back', async () => {
        const kv = await RedisKv.connect({ url: proxiedUrl, prefix: h.prefix });
        h.track(kv);
        const box = inbox();
        await kv.subscribe('revocations', box.handler);
        await proxy.cut();
        await proxy.restore();

        const publisher = await h.open();
        // Pub/sub is at most once: messages sent while the link was down are lost, so keep
        // publishing until one arrives over the restored connection.
        await eventually(async () => {
          await publisher.publish('revocations', 'key_1');
          await box.received(1, 100);
        });
        expect(box.messages[0]).toBe('key_1');
      });

      it('is not live while the subscriber connection is down, and asks for a resync once it is subscribed again', async () => {
        const kv = await RedisKv.connect({ url: proxiedUrl, prefix: h.prefix });
        h.track(kv);
        const box = inbox();
        let resyncs = 0;
        await kv.subscribe('revocations', box.handler, () => {
          resyncs++;
        });
        expect(kv.live).toBe(true);
        await proxy.cut();
        await eventually(() => expect(kv.live).toBe(false));
        // published while the link is down: lost, which is why the subscriber must resync
        const publisher = await h.open();
        await publisher.publish('revocations', 'key_lost');
        expect(resyncs).toBe(0);
        await proxy.restore();
        await eventually(() => expect(kv.live).toBe(true), 10_000);
        expect(resyncs).toBe(1);
        await publisher.publish('revocations', 'key_after');
        expect(await box.received(1)).toEqual(['key_after']);
      });
    });
  });
});
