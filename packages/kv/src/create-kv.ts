import { MemoryKv } from './memory-kv.js';
import { RedisKv } from './redis-kv.js';
import type { Kv, KvOptions } from './types.js';

/**
 * Redis when `url` is set (rejecting within seconds when it is unreachable), otherwise in
 * memory. The only place that chooses between the two.
 */
export async function createKv(options: KvOptions): Promise<Kv> {
  const { url, now, ...common } = options;
  if (url) return RedisKv.connect({ ...common, url });
  return new MemoryKv(now === undefined ? common : { ...common, now });
}
