export * from './api-key-format.js';
export * from './audit-chain.js';
export * from './base62.js';
export * from './canonical-json.js';
export * from './clock.js';
export * from './ulid.js';
