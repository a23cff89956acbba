import { inspect } from 'node:util';
import { type RandomBytes, secureRandomBytes } from './clock.js';

/** One key of a keyring. `key` is a copy: changing it changes nothing in the keyring. */
export interface KeyringEntry {
  name: string;
  version: number;
  key: Buffer;
}

export type KeyringErrorCode =
  | 'ERR_KEYRING_EMPTY'
  | 'ERR_KEYRING_ENTRY_MALFORMED'
  | 'ERR_KEYRING_NAME_INVALID'
  | 'ERR_KEYRING_VERSION_INVALID'
  | 'ERR_KEYRING_KEY_INVALID'
  | 'ERR_KEYRING_DUPLICATE'
  | 'ERR_KEYRING_KEY_MISSING';

/**
 * A keyring that cannot be read or lacks a key. The message names the entry by position,
 * name and version, and never contains key material (it ends up in start-up errors and logs).
 */
export class KeyringError extends Error {
  readonly code: KeyringErrorCode;
  constructor(code: KeyringErrorCode, message: string) {
    super(message);
    this.name = 'KeyringError';
    this.code = code;
  }
}

export const KEYRING_KEY_BYTES = 32;
const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const VERSION_PATTERN = /^[1-9][0-9]{0,8}$/;
const BASE64_KEY_PATTERN = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/;

/**
 * Named, versioned 256-bit keys (`pepper` for key hashes, `data` for envelope encryption).
 * Text form: `name:version:base64key` entries separated by commas or newlines; blank lines
 * and lines starting with `#` are ignored. Immutable: rotation returns a new keyring.
 */
export class Keyring {
  // Private fields: util.inspect, console.log and JSON.stringify never show them.
  readonly #byName: ReadonlyMap<string, ReadonlyMap<number, Buffer>>;

  private constructor(byName: Map<string, Map<number, Buffer>>) {
    this.#byName = byName;
  }

  static parse(text: string): Keyring {
    const byName = new Map<string, Map<number, Buffer>>();
    const entries = String(text)
      .split(/\r?\n/)
      .filter((line) => !line.trimStart().startsWith('#'))
      .flatMap((line) => line.split(','))
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (entries.length === 0) throw new KeyringError('ERR_KEYRING_EMPTY', 'keyring has no entries');
    entries.forEach((entry, i) => {
      const where = `keyring entry ${i + 1}`;
      const parts = entry.split(':');
      if (parts.length !== 3) {
        throw new KeyringError(
          'ERR_KEYRING_ENTRY_MALFORMED',
          `${where} is not of the form name:version:base64key`,
        );
      }
      const [name = '', versionText = '', material = ''] = parts;
      if (!NAME_PATTERN.test(name)) {
        throw new KeyringError(
          'ERR_KEYRING_NAME_INVALID',
          `${where} has an invalid name (1-32 of a-z, 0-9, _ and -, starting with a letter)`,
        );
      }
      if (!VERSION_PATTERN.test(versionText)) {
        throw new KeyringError('ERR_KEYRING_VERSION_INVALID', `${where} (${name}) has an invalid version`);
      }
      const version = Number(versionText);
      const key = decodeKey(material);
      if (key === null) {
        throw new KeyringError(
          'ERR_KEYRING_KEY_INVALID',
          `${where} (${name}:${version}) is not base64 of exactly ${KEYRING_KEY_BYTES} bytes`,
        );
      }
      const versions = byName.get(name) ?? new Map<number, Buffer>();
      byName.set(name, versions);
      if (versions.has(version)) {
        throw new KeyringError('ERR_KEYRING_DUPLICATE', `${where} repeats ${name}:${version}`);
      }
      versions.set(version, key);
    });
    return new Keyring(byName);
  }

  /** A fresh keyring with `pepper:1` and `data:1`. */
  static generate(random: RandomBytes = secureRandomBytes): Keyring {
    return new Keyring(
      new Map([
        ['pepper', new Map([[1, randomKey(random)]])],
        ['data', new Map([[1, randomKey(random)]])],
      ]),
    );
  }

  /** The text form `parse` reads: entries sorted by name and version, comma-separated. */
  serialize(): string {
    const out: string[] = [];
    for (const name of this.names()) {
      const versions = this.#byName.get(name)!;
      for (const version of [...versions.keys()].sort((a, b) => a - b)) {
        out.push(`${name}:${version}:${versions.get(version)!.toString('base64')}`);
      }
    }
    return out.join(',');
  }

  /** Key names, sorted. */
  names(): string[] {
    return [...this.#byName.keys()].sort();
  }

  /** The versions of `name`, newest first; empty when there is no such key. */
  versions(name: string): number[] {
    const versions = this.#byName.get(name);
    return versions === undefined ? [] : [...versions.keys()].sort((a, b) => b - a);
  }

  /** The newest version of `name`. Throws KeyringError when the keyring has no such key. */
  current(name: string): KeyringEntry {
    const version = this.versions(name)[0];
    if (version === undefined)
      throw new KeyringError('ERR_KEYRING_KEY_MISSING', `keyring has no key named ${name}`);
    return this.get(name, version)!;
  }

  /** One version of `name`, or undefined (e.g. a ciphertext names a version that was retired). */
  get(name: string, version: number): KeyringEntry | undefined {
    const key = this.#byName.get(name)?.get(version);
    return key === undefined ? undefined : { name, version, key: Buffer.from(key) };
  }

  /** A new keyring with `name` at its newest version + 1 (or version 1 for a new name). */
  withNewVersion(name: string, random: RandomBytes = secureRandomBytes): Keyring {
    if (!NAME_PATTERN.test(name)) throw new KeyringError('ERR_KEYRING_NAME_INVALID', 'invalid keyring name');
    const byName = new Map<string, Map<number, Buffer>>();
    for (const [n, versions] of this.#byName) byName.set(n, new Map(versions));
    const next = (this.versions(name)[0] ?? 0) + 1;
    const versions = byName.get(name) ?? new Map<number, Buffer>();
    byName.set(name, versions);
    versions.set(next, randomKey(random));
    return new Keyring(byName);
  }

  /** What logs and JSON see: names and versions, never keys. */
  toJSON(): Record<string, number[]> {
    return Object.fromEntries(this.names().map((name) => [name, this.versions(name)]));
  }

  [inspect.custom](): string {
    return `Keyring ${JSON.stringify(this.toJSON())}`;
  }
}

function decodeKey(text: string): Buffer | null {
  if (!BASE64_KEY_PATTERN.test(text)) return null;
  const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEYRING_KEY_BYTES) return null;
  // Refuse non-canonical spellings (stray low bits in the last character): a key has one text form.
  const canonical = key.toString('base64url');
  return text.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_') === canonical ? key : null;
}

function randomKey(random: RandomBytes): Buffer {
  const key = random(KEYRING_KEY_BYTES);
  if (key.length !== KEYRING_KEY_BYTES)
    throw new RangeError('random source returned the wrong number of bytes');
  return Buffer.from(key);
}
