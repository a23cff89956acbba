import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  createHarness,
  type Dialect,
  type Harness,
  reachable,
  setupAccount,
} from '../test-kit/harness.js';

const HOUR = 3600 * 1000;

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  describe(`keys lifecycle (${dialect})`, async () => {
    const available = dialect === 'sqlite' || (await reachable('postgres'));
    let h: Harness;
    beforeAll(async () => {
      if (available) h = await createHarness({ dialect });
    });
    afterAll(async () => {
      await h?.close();
    });

    it.skipIf(!available)(
      'creates an account and a live key that authenticates on GET /v1/account',
      async () => {
        const { accountId, secret } = await setupAccount(h, 'live');
        expect(secret).toMatch(/^sk_live_[0-9A-Za-z]{38}$/);
        const me = await call(h, 'GET', '/v1/account', { key: secret });
        expect(me.status).toBe(200);
        expect(me.body).toMatchObject({
          id: accountId,
          object: 'account',
          name: 'Acme',
          max_key_age_days: 90,
        });
        expect(me.headers['request-id']).toMatch(/^req_[0-9A-Z]{26}$/);
      },
    );

    it.skipIf(!available)('returns the secret once: never again on get or list', async () => {
      const { keyId, secret } = await setupAccount(h);
      const got = await call(h, 'GET', `/v1/keys/${keyId}`, { key: secret });
      expect(got.status).toBe(200);
      expect(got.body.secret).toBeUndefined();
      expect(got.body.hint).toBe(`sk_test_…${secret.slice(-4)}`);
      const list = await call(h, 'GET', '/v1/keys', { key: secret });
      expect(list.body.object).toBe('list');
      expect(JSON.stringify(list.body)).not.toContain(secret);
      expect(list.body.data.map((k: { id: string }) => k.id)).toContain(keyId);
    });

    it.skipIf(!available)('a read-only key reads but is refused on a write', async () => {
      const { secret } = await setupAccount(h);
      const ro = await call(h, 'POST', '/v1/keys', {
        key: secret,
        body: { type: 'restricted', scopes: ['keys:read'], name: 'read-only' },
      });
      expect(ro.status).toBe(200);
      expect(ro.body.secret).toMatch(/^rk_test_/);
      expect((await call(h, 'GET', '/v1/keys', { key: ro.body.secret })).status).toBe(200);
      const write = await call(h, 'POST', '/v1/keys', { key: ro.body.secret, body: { name: 'x' } });
      expect(write.status).toBe(403);
      expect(write.body.error).toMatchObject({ type: 'permission_error', code: 'insufficient_scope' });
      expect(write.body.error.request_id).toBe(write.headers['request-id']);
    });

    it.skipIf(!available)(
      'rolls with a grace period: both keys work until it ends, then the old is refused',
      async () => {
        const { keyId, secret } = await setupAccount(h);
        const rolled = await call(h, 'POST', `/v1/keys/${keyId}/roll`, {
          key: secret,
          body: { grace_period_seconds: 3600 },
        });
        expect(rolled.status).toBe(200);
        const next = rolled.body.secret as string;
        expect(next).not.toBe(secret);
        expect((await call(h, 'GET', '/v1/account', { key: secret })).status).toBe(200);
        expect((await call(h, 'GET', '/v1/account', { key: next })).status).toBe(200);
        const old = await call(h, 'GET', `/v1/keys/${keyId}`, { key: next });
        expect(old.body).toMatchObject({ status: 'expiring', rolled_to: rolled.body.id });
        h.clock.advance(HOUR + 1000);
        const refused = await call(h, 'GET', '/v1/account', { key: secret });
        expect(refused.status).toBe(401);
        expect(refused.body.error.code).toBe('invalid_api_key');
        expect((await call(h, 'GET', '/v1/account', { key: next })).status).toBe(200);
        expect((await call(h, 'GET', `/v1/keys/${keyId}`, { key: next })).body.status).toBe('expired');
      },
    );

    it.skipIf(!available)('rolls without grace: the old key is refused at once', async () => {
      const { keyId, secret } = await setupAccount(h);
      const rolled = await call(h, 'POST', `/v1/keys/${keyId}/roll`, {
        key: h.adminKey,
        body: { grace_period_seconds: 0 },
      });
      expect(rolled.status).toBe(200);
      expect((await call(h, 'GET', '/v1/account', { key: secret })).status).toBe(401);
      expect((await call(h, 'GET', '/v1/account', { key: rolled.body.secret })).status).toBe(200);
    });

    it.skipIf(!available)('defaults the grace period to 24 hours', async () => {
      const { keyId, secret } = await setupAccount(h);
      const rolled = await call(h, 'POST', `/v1/keys/${keyId}/roll`, { key: secret });
      expect(rolled.status).toBe(200);
      h.clock.advance(23 * HOUR);
      expect((await call(h, 'GET', '/v1/account', { key: secret })).status).toBe(200);
      h.clock.advance(HOUR + 1000);
      expect((await call(h, 'GET', '/v1/account', { key: secret })).status).toBe(401);
    });

    it.skipIf(!available)('revokes: the key is refused on the very next request', async () => {
      const { keyId, secret } = await setupAccount(h);
      expect((await call(h, 'GET', '/v1/account', { key: secret })).status).toBe(200); // now cached
      const revoked = await call(h, 'POST', `/v1/keys/${keyId}/revoke`, {
        key: h.adminKey,
        body: { reason: 'compromised' },
      });
      expect(revoked.body).toMatchObject({ status: 'revoked', revoked_reason: 'compromised' });
      const after = await call(h, 'GET', '/v1/account', { key: secret });
      expect(after.status).toBe(401);
      expect(after.body.error.message).toBe('Invalid API key provided.');
      // revoking again changes nothing
      const again = await call(h, 'POST', `/v1/keys/${keyId}/revoke`, { key: h.adminKey });
      expect(again.status).toBe(200);
      expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
    });

    it.skipIf(!available)(
      'updates name, scopes, allowlist and expiry; the change applies at once',
      async () => {
        const { secret } = await setupAccount(h);
        const rk = await call(h, 'POST', '/v1/keys', {
          key: secret,
          body: { type: 'restricted', scopes: ['keys:read', 'keys:write'] },
        });
        const minted = await call(h, 'POST', '/v1/keys', {
          key: rk.body.secret,
          body: { type: 'restricted', scopes: ['keys:read'] },
        });
        expect(minted.status).toBe(200);
        const updated = await call(h, 'POST', `/v1/keys/${rk.body.id}`, {
          key: secret,
          body: {
            name: 'ci',
            scopes: ['keys:read'],
            ip_allowlist: ['10.1.0.0/16', '2001:db8::/32'],
            metadata: { team: 'ops' },
          },
        });
        expect(updated.status).toBe(200);
        expect(updated.body).toMatchObject({
          name: 'ci',
          scopes: ['keys:read'],
          ip_allowlist: ['10.1.0.0/16', '2001:db8::/32'],
          metadata: { team: 'ops' },
        });
        const write = await call(h, 'POST', '/v1/keys', { key: rk.body.secret, body: {}, ip: '10.1.2.3' });
        expect(write.status).toBe(403);
        const inside = await call(h, 'GET', '/v1/keys', { key: rk.body.secret, ip: '10.1.2.3' });
        expect(inside.status, JSON.stringify(inside.body)).toBe(200);
        expect((await call(h, 'GET', '/v1/keys', { key: rk.body.secret, ip: '2001:db8::5' })).status).toBe(
          200,
        );
        const elsewhere = await call(h, 'GET', '/v1/keys', { key: rk.body.secret, ip: '10.2.0.1' });
        expect(elsewhere.status).toBe(403);
        expect(elsewhere.body.error.code).toBe('ip_not_allowed');
      },
    );

    it.skipIf(!available)('expires a key at expires_at', async () => {
      const { secret } = await setupAccount(h);
      const k = await call(h, 'POST', '/v1/keys', { key: secret, body: { expires_in_seconds: 600 } });
      expect(k.body.expires_at).toBe(Math.floor(h.clock.now() / 1000) + 600);
      expect((await call(h, 'GET', '/v1/account', { key: k.body.secret })).status).toBe(200);
      h.clock.advance(601_000);
      expect((await call(h, 'GET', '/v1/account', { key: k.body.secret })).status).toBe(401);
    });

    it.skipIf(!available)('marks keys older than the account maximum age for rotation', async () => {
      const acct = await call(h, 'POST', '/v1/accounts', {
        key: h.adminKey,
        body: { name: 'Old', max_key_age_days: 30 },
      });
      const k = await call(h, 'POST', '/v1/keys', {
        key: h.adminKey,
        body: { account: acct.body.id, mode: 'test' },
      });
      expect(k.body.rotation_due).toBe(false);
      h.clock.advance(31 * 24 * HOUR);
      const list = await call(h, 'GET', `/v1/keys?account=${acct.body.id}`, { key: h.adminKey });
      expect(list.body.data[0]).toMatchObject({ id: k.body.id, rotation_due: true, status: 'active' });
    });

    it.skipIf(!available)('keeps last_used_at without a write per request', async () => {
      const { keyId, secret } = await setupAccount(h);
      for (let i = 0; i < 5; i++) await call(h, 'GET', '/v1/account', { key: secret });
      expect((await h.store.getKey(keyId))?.lastUsedAt).toBeNull();
      await h.runtime.lastUsed.flush();
      expect((await h.store.getKey(keyId))?.lastUsedAt).toBe(h.clock.now());
    });

    it.skipIf(!available)('paginates lists with cursors both ways', async () => {
      const acct = await call(h, 'POST', '/v1/accounts', { key: h.adminKey, body: { name: 'Many' } });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        h.clock.advance(1);
        const k = await call(h, 'POST', '/v1/keys', {
          key: h.adminKey,
          body: { account: acct.body.id, mode: 'test' },
        });
        ids.push(k.body.id);
      }
      const newestFirst = [...ids].reverse();
      const p1 = await call(h, 'GET', `/v1/keys?account=${acct.body.id}&limit=2`, { key: h.adminKey });
      expect(p1.body.data.map((k: { id: string }) => k.id)).toEqual(newestFirst.slice(0, 2));
      expect(p1.body.has_more).toBe(true);
      const p2 = await call(
        h,
        'GET',
        `/v1/keys?account=${acct.body.id}&limit=2&starting_after=${newestFirst[1]}`,
        {
          key: h.adminKey,
        },
      );
      expect(p2.body.data.map((k: { id: string }) => k.id)).toEqual(newestFirst.slice(2, 4));
      const back = await call(
        h,
        'GET',
        `/v1/keys?account=${acct.body.id}&limit=2&ending_before=${newestFirst[2]}`,
        {
          key: h.adminKey,
        },
      );
      expect(back.body.data.map((k: { id: string }) => k.id)).toEqual(newestFirst.slice(0, 2));
    });

    it.skipIf(!available)('verifies keys for services and says why one is not valid', async () => {
      const { keyId, secret } = await setupAccount(h);
      const ok = await call(h, 'POST', '/v1/keys/verify', { key: h.adminKey, body: { key: secret } });
      expect(ok.body).toMatchObject({
        object: 'key_verification',
        valid: true,
        reason: null,
        key: { id: keyId },
      });
      await call(h, 'POST', `/v1/keys/${keyId}/revoke`, { key: h.adminKey });
      const bad = await call(h, 'POST', '/v1/keys/verify', { key: h.adminKey, body: { key: secret } });
      expect(bad.body).toMatchObject({ valid: false, reason: 'revoked' });
      const junk = await call(h, 'POST', '/v1/keys/verify', {
        key: h.adminKey,
        body: { key: 'sk_test_nope' },
      });
      expect(junk.body).toMatchObject({ valid: false, reason: 'malformed', key: null });
    });

    it.skipIf(!available)('accepts the key as the Basic user name', async () => {
      const { secret } = await setupAccount(h);
      const basic = Buffer.from(`${secret}:`).toString('base64');
      const res = await call(h, 'GET', '/v1/account', { headers: { authorization: `Basic ${basic}` } });
      expect(res.status).toBe(200);
    });
  });
}
