import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKv } from './create-kv.js';
import { MemoryKv } from './memory-kv.js';
import { describeKvConformance, inbox } from './test-kit/kv-conformance.js';
import { createMemoryHarness } from './test-kit/memory-harness.js';

describeKvConformance('memory', async () => createMemoryHarness());

describe('MemoryKv', () => {
  let clock = 1_000_000;
  const opened: MemoryKv[] = [];
  const open = (options: ConstructorParameters<typeof MemoryKv>[0] = {}) => {
    const kv = new MemoryKv({ now: () => clock, ...options });
    opened.push(kv);
    return kv;
  };
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(opened.splice(0).map((kv) => kv.close()));
    clock = 1_000_000;
  });

  it('expires a key exactly when its TTL has passed on the injected clock', async () => {
    const kv = open();
    await kv.set('k', 'v', { ttlMs: 1_000 });
    await kv.incr('n', 5, 1_000);
    clock += 999;
    expect(await kv.get('k')).toBe('v');
    expect(await kv.ttl('k')).toBe(1);
    expect(await kv.incr('n', 1, 60_000)).toBe(6);
    clock += 1;
    expect(await kv.get('k')).toBeNull();
    expect(await kv.ttl('k')).toBe(-2);
    expect(await kv.incr('n', 1, 60_000)).toBe(1);
    expect(await kv.ttl('n')).toBe(60_000);
  });

  it('drops expired entries that nobody reads again in a periodic sweep', async () => {
    vi.useFakeTimers();
    const kv = open({ sweepIntervalMs: 1_000 });
    await kv.set('short', 'v', { ttlMs: 500 });
    await kv.rateLimit('rl', [{ limit: 5, windowMs: 1_000 }]);
    await kv.set('forever', 'v');
    expect(kv.size).toBe(3);
    clock += 1_000;
    vi.advanceTimersByTime(1_000);
    expect(kv.size).toBe(1);
    expect(await kv.get('forever')).toBe('v');
  });

  it('does not keep the process alive with its sweep timer', () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    open({ sweepIntervalMs: 10 });
    expect(timers()).toBe(before);
  });

  it('delivers published messages asynchronously, after publish has returned', async () => {
    const kv = open();
    const box = inbox();
    await kv.subscribe('ch', box.handler);
    const publishing = kv.publish('ch', 'm');
    expect(box.messages).toEqual([]);
    await publishing;
    expect(await box.received(1)).toEqual(['m']);
  });

  it('delivers only to handlers of the same instance', async () => {
    const a = open();
    const b = open();
    const onA = inbox();
    const onB = inbox();
    await a.subscribe('ch', onA.handler);
    await b.subscribe('ch', onB.handler);
    await a.publish('ch', 'for-a');
    expect(await onA.received(1)).toEqual(['for-a']);
    await Promise.resolve();
    expect(onB.messages).toEqual([]);
  });

  it('does not deliver to a handler unsubscribed between publish and delivery', async () => {
    const kv = open();
    const gone = inbox();
    const witness = inbox();
    const unsubscribe = await kv.subscribe('ch', gone.handler);
    await kv.subscribe('ch', witness.handler);
    const publishing = kv.publish('ch', 'm');
    await unsubscribe();
    await publishing;
    await witness.received(1);
    expect(gone.messages).toEqual([]);
  });

  it('aligns rate-limit windows to the injected clock, to the millisecond', async () => {
    clock = 5_000_250;
    const kv = open();
    const windows = [{ limit: 2, windowMs: 1_000 }];
    expect(await kv.rateLimit('k', windows)).toEqual({
      allowed: true,
      results: [{ limit: 2, windowMs: 1_000, remaining: 1, resetMs: 750 }],
    });
    expect(await kv.get('k:1000:5000')).toBe('1');
    expect(await kv.ttl('k:1000:5000')).toBe(750);
    await kv.rateLimit('k', windows);
    clock += 749;
    expect(await kv.rateLimit('k', windows)).toEqual({
      allowed: false,
      results: [{ limit: 2, windowMs: 1_000, remaining: 0, resetMs: 1 }],
    });
    clock += 1;
    expect(await kv.rateLimit('k', windows)).toEqual({
      allowed: true,
      results: [{ limit: 2, windowMs: 1_000, remaining: 1, resetMs: 1_000 }],
    });
    expect(await kv.get('k:1000:5000')).toBeNull();
    expect(await kv.get('k:1000:5001')).toBe('1');
  });
});

describe('createKv without a url', () => {
  it('gives a MemoryKv on the injected clock', async () => {
    let now = 0;
    const kv = await createKv({ prefix: 't:', now: () => now });
    expect(kv.kind).toBe('memory');
    expect(kv).toBeInstanceOf(MemoryKv);
    await kv.set('k', 'v', { ttlMs: 10 });
    now = 10;
    expect(await kv.get('k')).toBeNull();
    await kv.close();
  });
});
