import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateApiKey } from './api-key-format.js';
import { KeyHasher } from './key-hasher.js';
import { Keyring, KeyringError } from './keyring.js';

describe('KeyHasher', () => {
  it('hashes with HMAC-SHA256 under the current pepper, base64url without padding', () => {
    const ring = Keyring.generate();
    const hasher = new KeyHasher(ring);
    const secret = generateApiKey('secret', 'live');
    const expected = createHmac('sha256', ring.current('pepper').key).update(secret).digest('base64url');
    expect(hasher.hash(secret)).toEqual({ hash: expected, version: 1 });
    expect(hasher.hash(secret).hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hasher.currentVersion).toBe(1);
  });

  it('gives different hashes for different secrets and for different peppers', () => {
    const a = new KeyHasher(Keyring.generate());
    const b = new KeyHasher(Keyring.generate());
    fc.assert(
      fc.property(fc.string(), fc.string(), (s1, s2) => {
        fc.pre(s1 !== s2);
        expect(a.hash(s1).hash).not.toBe(a.hash(s2).hash);
        expect(a.hash(s1).hash).not.toBe(b.hash(s1).hash);
        expect(a.hash(s1)).toEqual(a.hash(s1));
      }),
    );
  });

  it('still verifies a key hashed under an older pepper after rotation', () => {
    const v1 = Keyring.generate();
    const secret = generateApiKey('restricted', 'test');
    const stored = new KeyHasher(v1).hash(secret);
    expect(stored.version).toBe(1);

    const v3 = v1.withNewVersion('pepper').withNewVersion('pepper');
    const hasher = new KeyHasher(v3);
    expect(hasher.currentVersion).toBe(3);
    const current = hasher.hash(secret);
    expect(current.version).toBe(3);
    expect(current.hash).not.toBe(stored.hash);

    const candidates = hasher.candidates(secret);
    expect(candidates.map((c) => c.version)).toEqual([3, 2, 1]);
    expect(candidates[0]).toEqual(current);
    expect(candidates.find((c) => c.hash === stored.hash)?.version).toBe(1);
    // A different key matches no candidate.
    const other = generateApiKey('restricted', 'test');
    expect(hasher.candidates(other).some((c) => c.hash === stored.hash)).toBe(false);
  });

  it('survives a serialize/parse of the keyring (hashes are stable across restarts)', () => {
    const ring = Keyring.generate();
    const secret = generateApiKey('secret', 'test');
    expect(new KeyHasher(Keyring.parse(ring.serialize())).hash(secret)).toEqual(
      new KeyHasher(ring).hash(secret),
    );
  });

  it('refuses a keyring without a pepper', () => {
    const ring = Keyring.parse(`data:1:${Buffer.alloc(32, 1).toString('base64')}`);
    expect(() => new KeyHasher(ring)).toThrow(KeyringError);
  });
});
