import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config.js';
import { loadGatewayConfig, parseGatewayConfig } from './gateway-config.js';
import { resolveUpstreamSecret } from './upstream-secret.js';

describe('gateway configuration', () => {
  it('has sane defaults', () => {
    expect(parseGatewayConfig({})).toMatchObject({
      routes: [],
      allowed_origins: [],
      rate_limits: [{ limit: 100, window_seconds: 1 }],
      failed_auth_rate_limit: { limit: 30, window_seconds: 60 },
      browser_secret_keys: 'refuse',
      idempotency_max_body_bytes: 1024 * 1024,
      idempotency_ttl_seconds: 86_400,
    });
    expect(loadGatewayConfig(undefined).routes).toEqual([]);
  });

  it('reads the documented example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-gw-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        routes: [
          { method: 'POST', path: '/v1/payments/:id/refund', scope: 'refunds:write' },
          { method: 'GET', path: '/v1/public/*', public: true },
        ],
        allowed_origins: ['https://shop.example'],
        rate_limits: [{ limit: 100, window_seconds: 1 }],
        browser_secret_keys: 'refuse',
      }),
    );
    const c = loadGatewayConfig(file);
    expect(c.routes[0]).toMatchObject({ method: 'POST', scope: 'refunds:write', public: false });
    expect(c.routes[1]).toMatchObject({ method: 'GET', public: true });
  });

  it('refuses unknown fields and bad values, naming the field', () => {
    for (const [input, field] of [
      [{ route: [] }, 'route'],
      [{ routes: [{ path: 'v1/x' }] }, 'routes.0.path'],
      [{ routes: [{ path: '/v1/x', scope: 'payments:admin' }] }, 'routes.0.scope'],
      [{ allowed_origins: ['https://shop.example/path'] }, 'allowed_origins.0'],
      [{ rate_limits: [{ limit: 0, window_seconds: 1 }] }, 'rate_limits.0.limit'],
      [
        {
          rate_limits: [
            { limit: 1, window_seconds: 1 },
            { limit: 2, window_seconds: 1 },
          ],
        },
        'rate_limits',
      ],
      [{ browser_secret_keys: 'maybe' }, 'browser_secret_keys'],
    ] as const) {
      expect(() => parseGatewayConfig(input)).toThrow(ConfigError);
      expect(() => parseGatewayConfig(input)).toThrow(field);
    }
    expect(() => loadGatewayConfig(join(tmpdir(), 'does-not-exist.json'))).toThrow(
      'GATEHOUSE_GATEWAY_CONFIG',
    );
  });
});

describe('upstream secret', () => {
  const base = { upstreamUrl: 'http://127.0.0.1:9', production: false };

  it('uses the configured secret', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gh-sec-'));
    expect(resolveUpstreamSecret({ ...base, dataDir, upstreamSecret: 'x'.repeat(32) })).toEqual({
      secret: 'x'.repeat(32),
      source: 'config',
    });
  });

  it('generates one into the data dir (0600) outside production and reuses it', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'gh-sec-')), 'nested');
    const first = resolveUpstreamSecret({ ...base, dataDir, upstreamSecret: undefined });
    expect(first.source).toBe('generated');
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const file = join(dataDir, 'upstream-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secret);
    expect(resolveUpstreamSecret({ ...base, dataDir, upstreamSecret: undefined })).toEqual({
      secret: first.secret,
      source: 'file',
    });
  });

  it('refuses to start in production with an upstream but no secret', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gh-sec-'));
    expect(() =>
      resolveUpstreamSecret({ ...base, production: true, dataDir, upstreamSecret: undefined }),
    ).toThrow(/GATEHOUSE_UPSTREAM_SECRET/);
    expect(
      resolveUpstreamSecret({
        ...base,
        upstreamUrl: undefined,
        production: true,
        dataDir,
        upstreamSecret: undefined,
      }),
    ).toEqual({ secret: undefined, source: 'none' });
  });
});
