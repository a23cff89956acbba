import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keyring } from '@gatehouse/core';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

export interface LoadedKeyring {
  keyring: Keyring;
  source: 'env' | 'file' | 'generated' | 'data-dir';
}

/**
 * The keyring comes from GATEHOUSE_KEYRING, GATEHOUSE_KEYRING_FILE, or a file generated in
 * the data dir on first start (mode 0600). Production refuses a generated keyring: it would
 * live beside the database it protects.
 */
export function loadKeyring(config: Config, options: { create: boolean } = { create: true }): LoadedKeyring {
  if (config.keyring !== undefined)
    return { keyring: parse(config.keyring, 'GATEHOUSE_KEYRING'), source: 'env' };
  if (config.keyringFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.keyringFile, 'utf8');
    } catch {
      throw new ConfigError('GATEHOUSE_KEYRING_FILE: the file cannot be read');
    }
    return { keyring: parse(text, 'GATEHOUSE_KEYRING_FILE'), source: 'file' };
  }
  if (config.production) {
    throw new ConfigError(
      'GATEHOUSE_KEYRING or GATEHOUSE_KEYRING_FILE must be set when NODE_ENV=production (a generated keyring is refused)',
    );
  }
  const file = join(config.dataDir, 'keyring');
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { keyring: parse(readFileSync(file, 'utf8'), 'the data dir keyring'), source: 'data-dir' };
  }
  if (!options.create)
    throw new ConfigError('no keyring: set GATEHOUSE_KEYRING or run `gatehouse migrate` first');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const keyring = Keyring.generate();
  writeFileSync(file, `${keyring.serialize()}\n`, { mode: 0o600, flag: 'wx' });
  return { keyring, source: 'generated' };
}

function parse(text: string, where: string): Keyring {
  try {
    return Keyring.parse(text);
  } catch (err) {
    throw new ConfigError(`${where}: ${err instanceof Error ? err.message : 'invalid keyring'}`);
  }
}
