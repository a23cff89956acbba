import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Configuration is read once, at start-up, from the environment (and an optional JSON file
 * named by GATEHOUSE_CONFIG), validated, and passed down. A bad value stops start-up with a
 * message that names the variable and never echoes its value.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databaseSchema: string | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  keyring: string | undefined;
  keyringFile: string | undefined;
  upstreamUrl: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  trustProxy: string | undefined;
  production: boolean;
  logLevel: string;
  bodyLimitBytes: number;
  /** how long a verified key stays in the in-process cache */
  keyCacheTtlMs: number | undefined;
  /** shared secret for the Gatehouse-Signature header sent upstream */
  upstreamSecret: string | undefined;
  upstreamTimeoutMs: number;
  /** an open WebSocket (Upgrade) tunnel with no bytes either way for this long is cut */
  tunnelIdleTimeoutMs: number;
  /** JSON file with per-route scopes, public routes, allowed origins and default rate limits */
  gatewayConfigFile: string | undefined;
  requestLogRetentionDays: number;
  /** hosts and CIDRs that test-mode webhooks may reach although private or loopback */
  webhookAllowedPrivateHosts: string[];
  /** deliver webhooks from this process (default true) */
  webhookDispatcher: boolean;
  /** how long a claimed webhook delivery is held before another worker may take it over */
  webhookLeaseMs: number;
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const ConfigSchema = z.object({
  GATEHOUSE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  GATEHOUSE_HOST: z.string().min(1).default('127.0.0.1'),
  GATEHOUSE_DATA_DIR: z.string().min(1).default('./.gatehouse'),
  GATEHOUSE_DATABASE_URL: optionalString.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// URL',
  }),
  GATEHOUSE_DATABASE_SCHEMA: optionalString.refine(
    (v) => v === undefined || /^[a-z_][a-z0-9_]{0,62}$/.test(v),
    {
      message: 'must be a lower-case SQL identifier',
    },
  ),
  GATEHOUSE_REDIS_URL: optionalString.refine((v) => v === undefined || /^rediss?:\/\//.test(v), {
    message: 'must be a redis:// or rediss:// URL',
  }),
  GATEHOUSE_REDIS_PREFIX: z.string().max(100).default('gatehouse:'),
  GATEHOUSE_KEYRING: optionalString,
  GATEHOUSE_KEYRING_FILE: optionalString,
  GATEHOUSE_UPSTREAM_URL: optionalString.refine((v) => v === undefined || /^https?:\/\//.test(v), {
    message: 'must be an http:// or https:// URL',
  }),
  GATEHOUSE_TLS_CERT: optionalString,
  GATEHOUSE_TLS_KEY: optionalString,
  GATEHOUSE_TRUST_PROXY: optionalString,
  GATEHOUSE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GATEHOUSE_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .default(64 * 1024),
  GATEHOUSE_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).optional(),
  GATEHOUSE_UPSTREAM_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters',
  }),
  GATEHOUSE_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  GATEHOUSE_TUNNEL_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
  GATEHOUSE_GATEWAY_CONFIG: optionalString,
  GATEHOUSE_REQUEST_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS: optionalString.refine(
    (v) => v === undefined || v.split(',').every((h) => /^[A-Za-z0-9.:/[\]_-]{1,255}$/.test(h.trim())),
    { message: 'must be a comma-separated list of host names, addresses or CIDR ranges' },
  ),
  GATEHOUSE_WEBHOOK_DISPATCHER: z.enum(['on', 'off']).default('on'),
  GATEHOUSE_WEBHOOK_LEASE_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  NODE_ENV: z.string().optional(),
});

/** Variables whose values are secrets: never echoed, even in a validation error. */
const SECRET_VARIABLES = new Set([
  'GATEHOUSE_KEYRING',
  'GATEHOUSE_DATABASE_URL',
  'GATEHOUSE_REDIS_URL',
  'GATEHOUSE_UPSTREAM_SECRET',
]);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let source: Record<string, unknown> = {};
  const file = env['GATEHOUSE_CONFIG'];
  if (file) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new Error('not an object');
      source = parsed as Record<string, unknown>;
    } catch {
      throw new ConfigError('GATEHOUSE_CONFIG: the file cannot be read or is not a JSON object');
    }
  }
  const merged: Record<string, unknown> = { ...source };
  for (const [k, v] of Object.entries(env)) if (k.startsWith('GATEHOUSE_') || k === 'NODE_ENV') merged[k] = v;
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? 'configuration');
      const why = SECRET_VARIABLES.has(variable) ? 'has an invalid value' : issue.message;
      return `${variable}: ${why}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  if (c.NODE_ENV === 'production' && c.GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS !== undefined) {
    throw new ConfigError(
      'GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS: delivering webhooks to private or loopback addresses is refused in production',
    );
  }
  if ((c.GATEHOUSE_TLS_CERT === undefined) !== (c.GATEHOUSE_TLS_KEY === undefined)) {
    throw new ConfigError('GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY must be set together');
  }
  return {
    port: c.GATEHOUSE_PORT,
    host: c.GATEHOUSE_HOST,
    dataDir: c.GATEHOUSE_DATA_DIR,
    databaseUrl: c.GATEHOUSE_DATABASE_URL,
    databaseSchema: c.GATEHOUSE_DATABASE_SCHEMA,
    redisUrl: c.GATEHOUSE_REDIS_URL,
    redisPrefix: c.GATEHOUSE_REDIS_PREFIX,
    keyring: c.GATEHOUSE_KEYRING,
    keyringFile: c.GATEHOUSE_KEYRING_FILE,
    upstreamUrl: c.GATEHOUSE_UPSTREAM_URL,
    tlsCert: c.GATEHOUSE_TLS_CERT,
    tlsKey: c.GATEHOUSE_TLS_KEY,
    trustProxy: c.GATEHOUSE_TRUST_PROXY,
    production: c.NODE_ENV === 'production',
    logLevel: c.GATEHOUSE_LOG_LEVEL,
    bodyLimitBytes: c.GATEHOUSE_BODY_LIMIT,
    keyCacheTtlMs: c.GATEHOUSE_KEY_CACHE_TTL_MS,
    upstreamSecret: c.GATEHOUSE_UPSTREAM_SECRET,
    upstreamTimeoutMs: c.GATEHOUSE_UPSTREAM_TIMEOUT_MS,
    tunnelIdleTimeoutMs: c.GATEHOUSE_TUNNEL_IDLE_TIMEOUT_MS,
    gatewayConfigFile: c.GATEHOUSE_GATEWAY_CONFIG,
    requestLogRetentionDays: c.GATEHOUSE_REQUEST_LOG_RETENTION_DAYS,
    webhookAllowedPrivateHosts: (c.GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== ''),
    webhookDispatcher: c.GATEHOUSE_WEBHOOK_DISPATCHER === 'on',
    webhookLeaseMs: c.GATEHOUSE_WEBHOOK_LEASE_SECONDS * 1000,
  };
}
