export { createKv } from './create-kv.js';
export { MemoryKv, type MemoryKvOptions } from './memory-kv.js';
export { RedisKv, type RedisKvOptions } from './redis-kv.js';
export type {
  Kv,
  KvOptions,
  RateLimitAllResult,
  RateLimitCheck,
  RateLimitResult,
  RateLimitWindow,
  RateLimitWindowResult,
} from './types.js';
