import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config.js';

export const UPSTREAM_SECRET_FILE = 'upstream-secret';

/**
 * The shared secret for Gatehouse-Signature: GATEHOUSE_UPSTREAM_SECRET when set. Otherwise,
 * outside production, 32 random bytes (base64url) generated into `<dataDir>/upstream-secret`
 * (mode 0600) on first start and reused after; the upstream reads the same file or value. In
 * production an upstream without a configured secret stops start-up.
 */
export function resolveUpstreamSecret(config: {
  upstreamSecret: string | undefined;
  upstreamUrl: string | undefined;
  production: boolean;
  dataDir: string;
}): { secret: string | undefined; source: 'config' | 'file' | 'generated' | 'none' } {
  if (config.upstreamSecret !== undefined) return { secret: config.upstreamSecret, source: 'config' };
  if (config.production) {
    if (config.upstreamUrl !== undefined) {
      throw new ConfigError(
        'GATEHOUSE_UPSTREAM_SECRET: required in production when GATEHOUSE_UPSTREAM_URL is set (the upstream verifies Gatehouse-Signature with it)',
      );
    }
    return { secret: undefined, source: 'none' };
  }
  const file = join(config.dataDir, UPSTREAM_SECRET_FILE);
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length >= 32) return { secret, source: 'file' };
    throw new ConfigError(
      `${UPSTREAM_SECRET_FILE} in GATEHOUSE_DATA_DIR: too short; delete it to generate a new one`,
    );
  }
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { secret, source: 'generated' };
}
