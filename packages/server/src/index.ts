export { createApp, presentedKey } from './app.js';
export { type Config, ConfigError, loadConfig } from './config.js';
export { loadKeyring } from './keyring-loader.js';
export { createLogger } from './logger.js';
export { type RunningServer, startServer } from './main.js';
export { createRuntime, openRuntime, type Runtime, type RuntimeParts } from './runtime.js';
export { toAccount } from './services/account-service.js';
export { toAuditEvent } from './services/audit-service.js';
export type { Caller, Principal } from './services/principal.js';
