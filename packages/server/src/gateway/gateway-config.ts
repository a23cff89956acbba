import { readFileSync } from 'node:fs';
import { RateLimits, RateLimitWindow, Scope } from '@gatehouse/contract';
import { z } from 'zod';
import { ConfigError } from '../config.js';

const Method = z
  .string()
  .regex(/^([A-Za-z]+|\*)$/, 'a method name or *')
  .transform((m) => m.toUpperCase());

const RoutePath = z
  .string()
  .max(500)
  .regex(/^\/[^?#\s]*$/, 'a path starting with /, with :params and an optional trailing *');

const GatewayRoute = z.strictObject({
  method: Method.default('*'),
  path: RoutePath,
  /** the scope this route needs instead of the one derived from method and path */
  scope: Scope.optional(),
  /** reachable with publishable keys from allowed origins */
  public: z.boolean().default(false),
  /** only keys of these modes may use the route */
  modes: z
    .array(z.enum(['test', 'live']))
    .min(1)
    .optional(),
});

const Origin = z
  .string()
  .max(300)
  .regex(/^https?:\/\/[^/\s]+$/, 'an origin like https://shop.example (scheme, host and optional port)');

/** The gateway's own configuration: a JSON file named by GATEHOUSE_GATEWAY_CONFIG. */
export const GatewayConfigSchema = z.strictObject({
  routes: z.array(GatewayRoute).max(1000).default([]),
  /** origins from which publishable keys may be used on public routes */
  allowed_origins: z.array(Origin).max(1000).default([]),
  /** the default policy, for keys and accounts without their own `rate_limits` */
  rate_limits: RateLimits.default([{ limit: 100, window_seconds: 1 }]),
  /** failed authentications allowed per client IP; over it, 429 before any store lookup */
  failed_auth_rate_limit: RateLimitWindow.default({ limit: 30, window_seconds: 60 }),
  /** what to do with a secret or restricted key sent with a browser Origin header (always alerted) */
  browser_secret_keys: z.enum(['refuse', 'allow']).default('refuse'),
  /** requests declaring a larger Content-Length are refused with 413 before anything else */
  max_body_bytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  /** bodies of POSTs with an Idempotency-Key are buffered to fingerprint them; capped here */
  idempotency_max_body_bytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** upstream responses larger than this are passed on but not kept for replay */
  idempotency_max_response_bytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  idempotency_ttl_seconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 24 * 3600)
    .default(24 * 3600),
});

export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
export type GatewayRouteConfig = GatewayConfig['routes'][number];

/** Validates a gateway configuration object; throws ConfigError naming the field, never its value. */
export function parseGatewayConfig(input: unknown, source = 'gateway configuration'): GatewayConfig {
  const result = GatewayConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`${source}: invalid:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/** Reads the file named by GATEHOUSE_GATEWAY_CONFIG, or the defaults when there is none. */
export function loadGatewayConfig(file: string | undefined): GatewayConfig {
  if (file === undefined) return parseGatewayConfig({});
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError('GATEHOUSE_GATEWAY_CONFIG: the file cannot be read or is not JSON');
  }
  return parseGatewayConfig(parsed, 'GATEHOUSE_GATEWAY_CONFIG');
}
