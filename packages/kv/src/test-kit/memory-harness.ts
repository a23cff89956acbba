import { MemoryKv } from '../memory-kv.js';
import type { KvHarness } from './kv-conformance.js';

/** MemoryKv instances on one fake clock; time passes only through elapse(). */
export function createMemoryHarness(start = 1_700_000_000_123): KvHarness {
  let clock = start;
  const opened: MemoryKv[] = [];
  return {
    shared: false,
    async open(options = {}) {
      const kv = new MemoryKv({
        prefix: options.prefix ?? 'gh_test:',
        now: () => clock,
        ...(options.onError ? { onError: options.onError } : {}),
      });
      opened.push(kv);
      return kv;
    },
    async now() {
      return clock;
    },
    async elapse(ms) {
      clock += ms;
    },
    async dispose() {
      await Promise.all(opened.map((kv) => kv.close()));
    },
  };
}
