import { Keyring } from '@gatehouse/core';
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { createRuntime } from '../runtime.js';
import { createHarness, setupAccount } from '../test-kit/harness.js';

describe('pepper rotation', () => {
  it('still verifies a key hashed under an older pepper version, and re-hashes it on use', async () => {
    const h = await createHarness();
    try {
      const { keyId, secret } = await setupAccount(h);
      const before = await h.store.getKey(keyId);
      expect(before?.pepperVersion).toBe(1);
      // the operator rotates the pepper: a new version becomes current, the old one stays to verify
      const rotated = h.runtime.keyring.withNewVersion('pepper');
      const runtime = await createRuntime({ store: h.store, kv: h.kv, keyring: rotated, clock: h.clock });
      const app = await createApp({ runtime, logger: createLogger({ level: 'silent' }) });
      const res = await app.inject({
        method: 'GET',
        url: '/v1/account',
        headers: { authorization: `Bearer ${secret}` },
      });
      expect(res.statusCode).toBe(200);
      const after = await h.store.getKey(keyId);
      expect(after?.pepperVersion).toBe(2);
      expect(after?.keyHash).not.toBe(before?.keyHash);
      // new keys are hashed under the new version
      const created = await app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        payload: '{}',
      });
      expect((await h.store.getKey(created.json().id))?.pepperVersion).toBe(2);
      h.secrets.push(created.json().secret);
      // retiring the old version: a key not yet re-hashed stops verifying
      const other = await setupAccount(h);
      const entries = rotated
        .serialize()
        .split(/[,\n]/)
        .filter((e) => e.trim() !== '');
      const retired = Keyring.parse(entries.filter((e) => !e.startsWith('pepper:1:')).join(','));
      expect(retired.versions('pepper')).toEqual([2]);
      const strict = await createRuntime({ store: h.store, kv: h.kv, keyring: retired, clock: h.clock });
      expect((await strict.authenticator.check(other.secret, null)).ok).toBe(false);
      expect((await strict.authenticator.check(secret, null)).ok).toBe(true);
      await strict.close();
      await app.close();
      await runtime.close();
    } finally {
      await h.close();
    }
  });
});
