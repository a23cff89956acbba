export * from './database-text.js';
export * from './errors.js';
export * from './ids.js';
export * from './keys.js';
export * from './schemas.js';
export * from './webhooks.js';
