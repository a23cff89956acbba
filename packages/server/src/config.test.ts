import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { loadKeyring } from './keyring-loader.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: './.gatehouse', production: false });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
  });

  it('names the variable of a bad value and never echoes a secret', () => {
    expect(() => loadConfig({ GATEHOUSE_PORT: 'eighty' })).toThrow(/GATEHOUSE_PORT/);
    const secret = `mysql://admin:${randomBytes(8).toString('hex')}@db`;
    try {
      loadConfig({ GATEHOUSE_DATABASE_URL: secret });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('GATEHOUSE_DATABASE_URL');
      expect((err as Error).message).not.toContain(secret.slice(14));
    }
    expect(() => loadConfig({ GATEHOUSE_TLS_CERT: 'a.pem' })).toThrow(/GATEHOUSE_TLS_KEY/);
  });

  it('reads the upstream timeouts: handshake/answer 30 s and tunnel idle 60 s by default', () => {
    expect(loadConfig({})).toMatchObject({ upstreamTimeoutMs: 30_000, tunnelIdleTimeoutMs: 60_000 });
    expect(
      loadConfig({ GATEHOUSE_UPSTREAM_TIMEOUT_MS: '5000', GATEHOUSE_TUNNEL_IDLE_TIMEOUT_MS: '3600000' }),
    ).toMatchObject({ upstreamTimeoutMs: 5_000, tunnelIdleTimeoutMs: 3_600_000 });
    for (const bad of ['0', '999', 'soon', '86400001']) {
      expect(() => loadConfig({ GATEHOUSE_TUNNEL_IDLE_TIMEOUT_MS: bad })).toThrow(
        /GATEHOUSE_TUNNEL_IDLE_TIMEOUT_MS/,
      );
    }
  });

  it('reads a JSON file named by GATEHOUSE_CONFIG, with the environment winning', () => {
    const d = tempDir();
    const file = join(d, 'gatehouse.config.json');
    writeFileSync(file, JSON.stringify({ GATEHOUSE_PORT: 9999, GATEHOUSE_HOST: '0.0.0.0' }));
    const c = loadConfig({ GATEHOUSE_CONFIG: file, GATEHOUSE_HOST: '127.0.0.2' });
    expect(c.port).toBe(9999);
    expect(c.host).toBe('127.0.0.2');
    writeFileSync(file, '[1, 2');
    expect(() => loadConfig({ GATEHOUSE_CONFIG: file })).toThrow(/GATEHOUSE_CONFIG/);
  });
});

describe('keyring loading', () => {
  it('generates a keyring into the data dir with mode 0600 on first start, then reuses it', () => {
    const d = join(tempDir(), 'data');
    const first = loadKeyring(loadConfig({ GATEHOUSE_DATA_DIR: d }));
    expect(first.source).toBe('generated');
    const file = join(d, 'keyring');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadKeyring(loadConfig({ GATEHOUSE_DATA_DIR: d }));
    expect(again.source).toBe('data-dir');
    expect(again.keyring.serialize()).toBe(first.keyring.serialize());
  });

  it('refuses a generated keyring in production', () => {
    const d = join(tempDir(), 'data');
    expect(() => loadKeyring(loadConfig({ GATEHOUSE_DATA_DIR: d, NODE_ENV: 'production' }))).toThrow(
      /GATEHOUSE_KEYRING/,
    );
    expect(existsSync(join(d, 'keyring'))).toBe(false);
  });

  it('takes the keyring from the environment and never echoes a bad one', () => {
    const good = `pepper:1:${randomBytes(32).toString('base64')}`;
    expect(loadKeyring(loadConfig({ GATEHOUSE_KEYRING: good })).source).toBe('env');
    const bad = `pepper:1:${randomBytes(16).toString('base64')}`;
    try {
      loadKeyring(loadConfig({ GATEHOUSE_KEYRING: bad }));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('GATEHOUSE_KEYRING');
      expect((err as Error).message).not.toContain(bad.slice(9));
    }
    const d = tempDir();
    const file = join(d, 'keyring');
    writeFileSync(file, good);
    expect(loadKeyring(loadConfig({ GATEHOUSE_KEYRING_FILE: file })).keyring.serialize()).toContain(
      readFileSync(file, 'utf8').slice(0, 9),
    );
  });
});
