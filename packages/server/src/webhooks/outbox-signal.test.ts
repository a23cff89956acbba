import { describe, expect, it } from 'vitest';
import { OutboxSignal } from './outbox-signal.js';

describe('outbox signal', () => {
  it('wakes a waiter on notify, and keeps a notify that came with nobody waiting for the next wait', async () => {
    const signal = new OutboxSignal();
    const t0 = performance.now();
    const waiting = signal.wait(5_000);
    signal.notify();
    await waiting;
    signal.notify();
    await signal.wait(5_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('gives a notify to the next wait when the waiter before it stopped waiting (aborted)', async () => {
    const signal = new OutboxSignal();
    const stopped = new AbortController();
    const first = signal.wait(5_000, stopped.signal);
    stopped.abort(); // the dispatcher was woken by something else and went to claim
    signal.notify(); // a delivery written while it claimed
    const t0 = performance.now();
    await signal.wait(5_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
    await first;
  });

  it('ends a wait after its time without a notify', async () => {
    const signal = new OutboxSignal();
    const t0 = performance.now();
    await signal.wait(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });
});
