import type { WebhookDeliveryRow } from '@gatehouse/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newDelivery } from '../services/event-service.js';
import {
  call,
  createHarness,
  type Dialect,
  type Harness,
  reachable,
  setupAccount,
} from '../test-kit/harness.js';

// Loopback receivers only: the port is never listened on, nothing is sent in these tests.
const URL_A = 'http://127.0.0.1:9/hooks/a';
const URL_B = 'http://127.0.0.1:9/hooks/b';

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  describe(`webhook endpoints and events (${dialect})`, async () => {
    const available = dialect === 'sqlite' || (await reachable('postgres'));
    let h: Harness;
    beforeAll(async () => {
      if (available)
        h = await createHarness({ dialect, runtime: { webhookAllowedPrivateHosts: ['127.0.0.1'] } });
    });
    afterAll(async () => {
      await h?.close();
    });
    /** A delivery row as the dispatcher would have left it (nothing is sent in these tests). */
    const storedDelivery = async (
      eventId: string,
      endpointId: string,
      patch: Partial<WebhookDeliveryRow>,
    ) => {
      const row = { ...newDelivery(eventId, endpointId, h.clock.now()), ...patch };
      await h.store.transaction((tx) => tx.insertWebhookDeliveries([row]));
      return row;
    };
    /** A `payment.succeeded` event published with `secret`; its id. */
    const publishEvent = async (secret: string) =>
      (await call(h, 'POST', '/v1/events', { key: secret, body: { type: 'payment.succeeded', data: {} } }))
        .body.id as string;
    /** An endpoint at URL_A made with `secret`; its id. */
    const makeEndpoint = async (secret: string, enabledEvents = ['*']) =>
      (
        await call(h, 'POST', '/v1/webhook_endpoints', {
          key: secret,
          body: { url: URL_A, enabled_events: enabledEvents },
        })
      ).body.id as string;

    it.skipIf(!available)(
      'creates an endpoint; the whsec_ secret is in the create response only',
      async () => {
        const { secret } = await setupAccount(h);
        const created = await call(h, 'POST', '/v1/webhook_endpoints', {
          key: secret,
          body: { url: URL_A, enabled_events: ['payment.*'], description: 'orders' },
        });
        expect(created.status).toBe(200);
        expect(created.body).toMatchObject({
          object: 'webhook_endpoint',
          mode: 'test',
          url: URL_A,
          enabled_events: ['payment.*'],
          signing: 'v1',
          status: 'enabled',
          public_key: null,
        });
        expect(created.body.id).toMatch(/^we_[0-9A-Z]{26}$/);
        expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
        const got = await call(h, 'GET', `/v1/webhook_endpoints/${created.body.id}`, { key: secret });
        expect(got.status).toBe(200);
        expect(got.body.secret).toBeUndefined();
        const list = await call(h, 'GET', '/v1/webhook_endpoints', { key: secret });
        expect(list.body.data.map((e: { id: string }) => e.id)).toEqual([created.body.id]);
        expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
        // stored encrypted: the row holds no trace of the secret
        const row = await h.store.getWebhookEndpoint(created.body.id);
        expect(JSON.stringify(row)).not.toContain(created.body.secret.slice(6));
        // revealed on request, and the reveal is audited without the secret
        const revealed = await call(h, 'GET', `/v1/webhook_endpoints/${created.body.id}/secret`, {
          key: secret,
        });
        expect(revealed.status).toBe(200);
        expect(revealed.body).toMatchObject({
          object: 'webhook_endpoint_secret',
          secret: created.body.secret,
        });
        const audit = await h.store.listAudit({ action: 'webhook_endpoint.secret_revealed' }, { limit: 10 });
        expect(audit.data[0]?.targetId).toBe(created.body.id);
        const trail = await h.store.listAudit({}, { limit: 100 });
        expect(JSON.stringify(trail.data)).not.toContain(created.body.secret.slice(6));
      },
    );

    it.skipIf(!available)('v1a endpoints hand out the Ed25519 public key, never a secret', async () => {
      const { secret } = await setupAccount(h);
      const created = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: secret,
        body: { url: URL_A, enabled_events: ['*'], signing: 'v1a' },
      });
      expect(created.status).toBe(200);
      expect(created.body.secret).toBeUndefined();
      expect(created.body.public_key).toMatch(/^whpk_/);
      const revealed = await call(h, 'GET', `/v1/webhook_endpoints/${created.body.id}/secret`, {
        key: secret,
      });
      expect(revealed.body).toMatchObject({
        secret: null,
        public_key: created.body.public_key,
        signing: 'v1a',
      });
    });

    it.skipIf(!available)('updates url, events, description and status; re-enables', async () => {
      const { secret } = await setupAccount(h);
      const { body: ep } = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: secret,
        body: { url: URL_A, enabled_events: ['*'] },
      });
      const updated = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}`, {
        key: secret,
        body: {
          url: URL_B,
          enabled_events: ['refund.created', 'payment.*'],
          description: 'new',
          status: 'disabled',
        },
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        url: URL_B,
        enabled_events: ['refund.created', 'payment.*'],
        description: 'new',
        status: 'disabled',
        disabled_reason: 'disabled_by_user',
      });
      const enabled = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}`, {
        key: secret,
        body: { status: 'enabled', description: null },
      });
      expect(enabled.body).toMatchObject({ status: 'enabled', disabled_reason: null, description: null });
      const actions = (
        await h.store.listAudit({ action: 'webhook_endpoint.updated' }, { limit: 100 })
      ).data.filter((a) => a.targetId === ep.id);
      expect(actions).toHaveLength(2);
    });

    it.skipIf(!available)(
      'refuses U+0000 in text that reaches the store with the parameter named; event data keeps it',
      async () => {
        // PostgreSQL cannot hold NUL in a text value (it failed the request with 500); SQLite kept it
        const NUL = '\u0000';
        const { secret, keyId } = await setupAccount(h);
        const { body: ep } = await call(h, 'POST', '/v1/webhook_endpoints', {
          key: secret,
          body: { url: URL_A, enabled_events: ['*'] },
        });
        const refused = [
          [
            'POST',
            '/v1/webhook_endpoints',
            secret,
            { url: URL_A, enabled_events: ['*'], description: `a${NUL}` },
            'description',
          ],
          ['POST', `/v1/webhook_endpoints/${ep.id}`, secret, { description: `a${NUL}b` }, 'description'],
          ['POST', `/v1/webhook_endpoints/${ep.id}`, secret, { metadata: { plan: NUL } }, 'metadata.plan'],
          ['POST', `/v1/webhook_endpoints/${ep.id}`, secret, { metadata: { [`p${NUL}`]: 'x' } }, 'metadata'],
          ['POST', '/v1/accounts', h.adminKey, { name: `Acme${NUL}` }, 'name'],
          ['POST', '/v1/keys', secret, { name: NUL }, 'name'],
          ['POST', `/v1/keys/${keyId}`, secret, { name: `k${NUL}` }, 'name'],
          ['POST', `/v1/keys/${keyId}/roll`, secret, { name: `k${NUL}` }, 'name'],
          ['GET', `/v1/keys?starting_after=key_${NUL}`, secret, undefined, 'starting_after'],
          ['GET', `/v1/events?ending_before=evt_${NUL}`, secret, undefined, 'ending_before'],
          ['GET', `/v1/audit_events?action=a${NUL}`, h.adminKey, undefined, 'action'],
        ] as const;
        for (const [method, url, key, body, param] of refused) {
          const res = await call(h, method, url.replace(NUL, '%00'), { key, body });
          expect({ status: res.status, ...res.body.error }, `${method} ${url}`).toMatchObject({
            status: 400,
            code: 'parameter_invalid',
            param,
          });
        }
        const stored = await h.store.getWebhookEndpoint(ep.id);
        expect(stored).toMatchObject({ description: null, metadata: {} });
        // an event's data is the integrator's JSON, stored as JSON text: NUL round-trips escaped
        const event = await call(h, 'POST', '/v1/events', {
          key: secret,
          body: { type: 'payment.succeeded', data: { note: `a${NUL}b`, [NUL]: 1 } },
        });
        expect(event.status).toBe(200);
        const got = await call(h, 'GET', `/v1/events/${event.body.id}`, { key: secret });
        expect(got.body.data).toEqual({ note: `a${NUL}b`, [NUL]: 1 });
      },
    );

    it.skipIf(!available)('rotates: a new secret now, the old one kept for the grace period', async () => {
      const { secret } = await setupAccount(h);
      const { body: ep } = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: secret,
        body: { url: URL_A, enabled_events: ['*'] },
      });
      const rotated = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/rotate_secret`, {
        key: secret,
        body: { expires_in_seconds: 3600 },
      });
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(ep.secret);
      expect(rotated.body.previous_secret_expires_at).toBe(Math.floor(h.clock.now() / 1000) + 3600);
      const row = await h.store.getWebhookEndpoint(ep.id);
      expect(h.runtime.webhookSecretBox.open(row?.previousSecret ?? '', ep.id)).toBe(ep.secret);
      // while the old secret still signs, another rotation with a grace period would end it
      // early: refused, and nothing changes
      const again = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/rotate_secret`, {
        key: secret,
        body: {},
      });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('webhook_secret_rotation_in_progress');
      expect((await h.store.getWebhookEndpoint(ep.id))?.secret).toBe(row?.secret);
      h.clock.advance(3600_000);
      const later = await call(h, 'GET', `/v1/webhook_endpoints/${ep.id}`, { key: secret });
      expect(later.body.previous_secret_expires_at).toBeNull();
      const now = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/rotate_secret`, {
        key: secret,
        body: { expires_in_seconds: 0 },
      });
      expect(now.body.previous_secret_expires_at).toBeNull();
      expect((await h.store.getWebhookEndpoint(ep.id))?.previousSecret).toBeNull();
      // a leaked secret: rotate with 0 during a grace period ends every old secret at once
      const graced = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/rotate_secret`, {
        key: secret,
        body: {},
      });
      expect(graced.status).toBe(200);
      const leaked = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/rotate_secret`, {
        key: secret,
        body: { expires_in_seconds: 0 },
      });
      expect(leaked.status).toBe(200);
      expect(leaked.body.previous_secret_expires_at).toBeNull();
      expect((await h.store.getWebhookEndpoint(ep.id))?.previousSecret).toBeNull();
    });

    it.skipIf(!available)(
      'publishes events to the endpoints whose enabled events match, in one transaction',
      async () => {
        const { accountId, secret } = await setupAccount(h);
        const mk = async (enabled_events: string[]) =>
          (
            await call(h, 'POST', '/v1/webhook_endpoints', {
              key: secret,
              body: { url: URL_A, enabled_events },
            })
          ).body.id as string;
        const all = await mk(['*']);
        const payments = await mk(['payment.*']);
        const refunds = await mk(['refund.created']);
        const published = await call(h, 'POST', '/v1/events', {
          key: h.adminKey,
          body: {
            account: accountId,
            mode: 'test',
            type: 'payment.succeeded',
            data: { object: { id: 'pay_1' } },
          },
        });
        expect(published.status).toBe(200);
        expect(published.body).toMatchObject({
          object: 'event',
          account: accountId,
          mode: 'test',
          type: 'payment.succeeded',
          data: { object: { id: 'pay_1' } },
        });
        const deliveries = await h.store.listWebhookDeliveries({ eventId: published.body.id }, { limit: 10 });
        expect(deliveries.data.map((d) => d.endpointId).sort()).toEqual([all, payments].sort());
        expect(deliveries.data.every((d) => d.status === 'pending')).toBe(true);
        expect(refunds).toBeTruthy();
        // the account's own key reads it; the list filters by type
        const got = await call(h, 'GET', `/v1/events/${published.body.id}`, { key: secret });
        expect(got.body.id).toBe(published.body.id);
        const listed = await call(h, 'GET', '/v1/events?type=payment.succeeded', { key: secret });
        expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([published.body.id]);
        // an account key may publish to its own account and mode
        const own = await call(h, 'POST', '/v1/events', {
          key: secret,
          body: { type: 'refund.created', data: {} },
        });
        expect(own.status).toBe(200);
        expect(own.body.account).toBe(accountId);
      },
    );

    it.skipIf(!available)(
      'publishes key.created, key.rolled and key.revoked in the key’s transaction',
      async () => {
        const { accountId, secret } = await setupAccount(h);
        const { body: ep } = await call(h, 'POST', '/v1/webhook_endpoints', {
          key: secret,
          body: { url: URL_A, enabled_events: ['key.*'] },
        });
        // ids order by millisecond: step the clock so the events sort as made
        h.clock.advance(1);
        const created = await call(h, 'POST', '/v1/keys', { key: secret, body: { name: 'worker' } });
        h.clock.advance(1);
        const rolled = await call(h, 'POST', `/v1/keys/${created.body.id}/roll`, { key: secret, body: {} });
        h.clock.advance(1);
        await call(h, 'POST', `/v1/keys/${rolled.body.id}/revoke`, {
          key: secret,
          body: { reason: 'unused' },
        });
        // the account's first key was made before the endpoint: not part of this story
        const events = (await h.store.listEvents({ accountId, mode: 'test' }, { limit: 20 })).data.filter(
          (e) => e.createdAt >= h.clock.now() - 2,
        );
        // a roll's two events share a millisecond, so compare without order
        const types = events.map((e) => `${e.type}:${(e.data['object'] as { id: string }).id}`).sort();
        expect(types).toEqual(
          [
            `key.created:${created.body.id}`,
            `key.rolled:${created.body.id}`,
            `key.created:${rolled.body.id}`,
            `key.revoked:${rolled.body.id}`,
          ].sort(),
        );
        // never a secret in an event
        const text = JSON.stringify(events);
        expect(text).not.toContain(created.body.secret);
        expect(text).not.toContain(rolled.body.secret);
        expect(text).not.toContain('"secret":');
        const deliveries = await h.store.listWebhookDeliveries({ endpointId: ep.id }, { limit: 20 });
        expect(deliveries.data).toHaveLength(4);
      },
    );

    it.skipIf(!available)(
      'redelivering at once to an endpoint that never got the event makes one delivery',
      async () => {
        const { secret } = await setupAccount(h);
        const eventId = await publishEvent(secret);
        const ep = await makeEndpoint(secret);
        const answers = await Promise.all(
          Array.from({ length: 8 }, () =>
            call(h, 'POST', `/v1/events/${eventId}/redeliver`, { key: secret, body: { endpoint: ep } }),
          ),
        );
        expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
        const made = await h.store.listWebhookDeliveries({ eventId }, { limit: 100 });
        expect(made.data.map((d) => d.endpointId)).toEqual([ep]);
      },
    );

    it.skipIf(!available)('redelivering an event to every endpoint skips disabled ones', async () => {
      const { secret } = await setupAccount(h);
      const eventId = await publishEvent(secret);
      const [on, off] = [await makeEndpoint(secret), await makeEndpoint(secret)];
      const finished = {
        status: 'failed',
        attempts: 8,
        nextAttemptAt: null,
        completedAt: h.clock.now(),
      } as const;
      const [toOn, toOff] = [
        await storedDelivery(eventId, on, finished),
        await storedDelivery(eventId, off, finished),
      ];
      await call(h, 'POST', `/v1/webhook_endpoints/${off}`, { key: secret, body: { status: 'disabled' } });
      const all = await call(h, 'POST', `/v1/events/${eventId}/redeliver`, { key: secret, body: {} });
      expect(all.body).toEqual({ object: 'redelivery', requeued: 1 });
      expect(await h.store.getWebhookDelivery(toOn.id)).toMatchObject({
        status: 'pending',
        nextAttemptAt: h.clock.now(),
      });
      expect(await h.store.getWebhookDelivery(toOff.id)).toMatchObject({
        status: 'failed',
        nextAttemptAt: null,
      });
      const named = await call(h, 'POST', `/v1/events/${eventId}/redeliver`, {
        key: secret,
        body: { endpoint: off },
      });
      expect(named.status).toBe(409);
    });

    it.skipIf(!available)('redeliver_failed `since` counts from when the event was created', async () => {
      const { secret } = await setupAccount(h);
      const ep = await makeEndpoint(secret, ['refund.*']);
      const event = await call(h, 'POST', '/v1/events', {
        key: secret,
        body: { type: 'payment.succeeded', data: {} },
      });
      const created = event.body.created as number;
      h.clock.advance(2 * 86_400_000);
      // the delivery is two days younger than its event (a redelivery made it), and failed
      const late = await storedDelivery(event.body.id, ep, {
        status: 'failed',
        attempts: 8,
        nextAttemptAt: null,
        completedAt: h.clock.now(),
      });
      const redeliverSince = async (since: number) =>
        (
          await call(h, 'POST', `/v1/webhook_endpoints/${ep}/redeliver_failed`, {
            key: secret,
            body: { since },
          })
        ).body.requeued;
      expect(await redeliverSince(created + 86_400)).toBe(0);
      expect(await h.store.getWebhookDelivery(late.id)).toMatchObject({ status: 'failed' });
      expect(await redeliverSince(created)).toBe(1);
      expect(await h.store.getWebhookDelivery(late.id)).toMatchObject({ status: 'pending' });
    });

    it.skipIf(!available)(
      'redelivering a delivery that waits for its next retry sends it now, as the same delivery',
      async () => {
        const { secret } = await setupAccount(h);
        const eventId = await publishEvent(secret);
        const ep = await makeEndpoint(secret);
        const now = h.clock.now();
        // the first attempt failed; the schedule waits 5 minutes
        const waiting = await storedDelivery(eventId, ep, {
          attempts: 1,
          nextAttemptAt: now + 300_000,
          lastAttemptAt: now,
          lastStatusCode: 500,
        });
        for (const body of [{ endpoint: ep }, {}]) {
          const res = await call(h, 'POST', `/v1/events/${eventId}/redeliver`, { key: secret, body });
          expect(res.body, JSON.stringify(body)).toEqual({ object: 'redelivery', requeued: 1 });
          const made = await h.store.listWebhookDeliveries({ eventId: eventId }, { limit: 10 });
          expect(made.data).toHaveLength(1);
          expect(made.data[0]).toMatchObject({
            id: waiting.id,
            status: 'pending',
            attempts: 1,
            nextAttemptAt: now,
            lastStatusCode: 500,
          });
        }
        // being attempted at this moment (leased): left to finish, not counted
        const claimed = await h.store.claimDueWebhookDeliveries('dispatcher', now, 1000, 60_000);
        const others = claimed.map((d) => d.id).filter((id) => id !== waiting.id);
        await h.store.releaseWebhookLeases('dispatcher', others);
        expect(claimed.map((d) => d.id)).toContain(waiting.id);
        const busy = await call(h, 'POST', `/v1/events/${eventId}/redeliver`, {
          key: secret,
          body: {},
        });
        expect(busy.body).toEqual({ object: 'redelivery', requeued: 0 });
        expect(await h.store.getWebhookDelivery(waiting.id)).toMatchObject({ leaseOwner: 'dispatcher' });
      },
    );

    it.skipIf(!available)('sends a test event, lists deliveries, redelivers, deletes', async () => {
      const { secret } = await setupAccount(h);
      const { body: ep } = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: secret,
        body: { url: URL_A, enabled_events: ['refund.created'] },
      });
      const test = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/test`, { key: secret });
      expect(test.status).toBe(200);
      expect(test.body).toMatchObject({
        object: 'webhook_delivery',
        endpoint: ep.id,
        status: 'pending',
        attempts: 0,
      });
      const event = await call(h, 'GET', `/v1/events/${test.body.event}`, { key: secret });
      expect(event.body.type).toBe('webhook_endpoint.test');
      const listed = await call(h, 'GET', `/v1/webhook_endpoints/${ep.id}/deliveries`, { key: secret });
      expect(listed.body.data).toMatchObject([{ id: test.body.id, attempt_history: [] }]);
      // a pending delivery already due stays as it is, counted: it is sent now
      const queued = await h.store.getWebhookDelivery(test.body.id);
      const again = await call(h, 'POST', `/v1/events/${test.body.event}/redeliver`, {
        key: secret,
        body: {},
      });
      expect(again.body).toEqual({ object: 'redelivery', requeued: 1 });
      expect(await h.store.getWebhookDelivery(test.body.id)).toEqual(queued);
      const bulk = await call(h, 'POST', `/v1/webhook_endpoints/${ep.id}/redeliver_failed`, {
        key: secret,
        body: { since: 0 },
      });
      expect(bulk.body).toEqual({ object: 'redelivery', requeued: 0 });
      const deleted = await call(h, 'DELETE', `/v1/webhook_endpoints/${ep.id}`, { key: secret });
      expect(deleted.body).toEqual({ id: ep.id, object: 'webhook_endpoint', deleted: true });
      expect((await call(h, 'GET', `/v1/webhook_endpoints/${ep.id}`, { key: secret })).status).toBe(404);
      expect(await h.store.getWebhookDelivery(test.body.id)).toBeUndefined();
    });
  });
}
