import { describe, expect, it, onTestFinished } from 'vitest';
import { StoreConstraintError } from '../store-constraint-error.js';
import type { Store, StoreOps, WebhookAttemptRow, WebhookDeliveryRow } from '../types.js';
import { monotonicId } from './monotonic-id.js';
import {
  accountFixture,
  eventFixture,
  keyFixture,
  webhookDeliveryFixture,
  webhookEndpointFixture,
} from './store-fixtures.js';
import type { TestDatabases } from './test-databases.js';

const T = 1_760_000_000_000;
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

async function endpointWithAccount(
  store: StoreOps,
  overrides: Parameters<typeof webhookEndpointFixture>[1] = {},
) {
  const account = accountFixture();
  await store.insertAccount(account);
  const endpoint = webhookEndpointFixture(account.id, overrides);
  await store.insertWebhookEndpoint(endpoint);
  return { account, endpoint };
}

/** An event with one pending delivery per endpoint, written in one transaction (as the outbox is). */
async function publish(store: Store, accountId: string, endpointIds: string[], due = T) {
  const event = eventFixture(accountId, { createdAt: due });
  const deliveries = endpointIds.map((endpointId) =>
    webhookDeliveryFixture(event.id, endpointId, { nextAttemptAt: due, createdAt: due }),
  );
  await store.transaction(async (tx) => {
    await tx.insertEvent(event);
    await tx.insertWebhookDeliveries(deliveries);
  });
  return { event, deliveries };
}

function attempt(d: WebhookDeliveryRow, overrides: Partial<WebhookAttemptRow> = {}): WebhookAttemptRow {
  return {
    deliveryId: d.id,
    attempt: d.attempts + 1,
    endpointId: d.endpointId,
    startedAt: T,
    statusCode: 200,
    latencyMs: 12.5,
    responseExcerpt: 'ok',
    errorCode: null,
    succeeded: true,
    ...overrides,
  };
}

/** Claims through the store itself, or through the dispatcher's outbox (closed by `close`). */
function claimer(store: Store, via: 'store' | 'outbox') {
  if (via === 'store') return { claim: store.claimWebhookAttempts.bind(store), close: async () => {} };
  const outbox = store.openWebhookOutbox();
  return { claim: outbox.claim, close: () => outbox.close() };
}

/** Webhook endpoints, events and the delivery outbox: the part of the store the dispatcher relies on. */
export function webhookStoreConformance(databases: TestDatabases, shared: () => Store): void {
  describe('webhooks', () => {
    it('stores an endpoint with every field, updates it and lists by account and mode', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store, {
        mode: 'live',
        description: 'orders ✓',
        enabledEvents: ['payment.*', 'refund.created'],
        signing: 'v1a',
        publicKey: 'whpk_public',
        previousSecret: 'old-ciphertext',
        previousSecretExpiresAt: T + 3600_000,
        rateLimitPerSecond: 20,
        metadata: { team: 'payments' },
        failingSince: T,
      });
      expect(await store.getWebhookEndpoint(endpoint.id)).toEqual(endpoint);
      const other = webhookEndpointFixture(account.id);
      await store.insertWebhookEndpoint(other);
      const updated = await store.updateWebhookEndpoint(endpoint.id, {
        status: 'disabled',
        disabledReason: 'gone',
        failingSince: null,
        description: null,
        enabledEvents: ['*'],
        updatedAt: T + 1,
      });
      expect(updated).toEqual({
        ...endpoint,
        status: 'disabled',
        disabledReason: 'gone',
        failingSince: null,
        description: null,
        enabledEvents: ['*'],
        updatedAt: T + 1,
      });
      expect(
        await store.updateWebhookEndpoint(monotonicId('we'), { url: 'https://x.example' }),
      ).toBeUndefined();
      const live = await store.listWebhookEndpoints({ accountId: account.id, mode: 'live' }, { limit: 10 });
      expect(ids(live.data)).toEqual([endpoint.id]);
      const all = await store.listWebhookEndpoints({ accountId: account.id }, { limit: 10 });
      expect(ids(all.data)).toEqual([other.id, endpoint.id]);
      expect(ids(await store.enabledWebhookEndpoints(account.id, 'test'))).toEqual([other.id]);
      expect(await store.enabledWebhookEndpoints(account.id, 'live')).toEqual([]);
    });

    it('refuses an endpoint for an account that does not exist', async () => {
      const error = await shared()
        .insertWebhookEndpoint(webhookEndpointFixture(monotonicId('acct')))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConstraintError);
    });

    it('writes an event and its deliveries in one transaction: all or nothing', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const { event, deliveries } = await publish(store, account.id, [endpoint.id]);
      expect(await store.getEvent(event.id)).toEqual(event);
      expect(await store.getWebhookDelivery(deliveries[0]!.id)).toEqual(deliveries[0]);

      const lost = eventFixture(account.id);
      await expect(
        store.transaction(async (tx) => {
          await tx.insertEvent(lost);
          // a delivery for an endpoint that does not exist breaks the foreign key
          await tx.insertWebhookDeliveries([webhookDeliveryFixture(lost.id, monotonicId('we'))]);
        }),
      ).rejects.toBeInstanceOf(StoreConstraintError);
      expect(await store.getEvent(lost.id)).toBeUndefined();
    });

    it('lists events by account, mode and type, newest first', async () => {
      const store = shared();
      const account = accountFixture();
      await store.insertAccount(account);
      const e1 = eventFixture(account.id);
      const e2 = eventFixture(account.id, { type: 'refund.created' });
      const e3 = eventFixture(account.id, { mode: 'live' });
      for (const e of [e1, e2, e3]) await store.insertEvent(e);
      const list = async (f: Parameters<Store['listEvents']>[0]) =>
        ids((await store.listEvents(f, { limit: 10 })).data);
      expect(await list({ accountId: account.id, mode: 'test' })).toEqual([e2.id, e1.id]);
      expect(await list({ accountId: account.id, mode: 'test', type: 'refund.created' })).toEqual([e2.id]);
      expect(await list({ accountId: account.id, mode: 'live' })).toEqual([e3.id]);
      const page = await store.listEvents({ accountId: account.id }, { limit: 2 });
      expect(page.hasMore).toBe(true);
    });

    it('claims only due, pending, unleased deliveries; an expired lease can be claimed again', async () => {
      const fresh = await (await databases.create()).open();
      await fresh.migrate();
      const { account, endpoint } = await endpointWithAccount(fresh);
      const now = await publish(fresh, account.id, [endpoint.id], T);
      const later = await publish(fresh, account.id, [endpoint.id], T + 60_000);
      const done = await publish(fresh, account.id, [endpoint.id], T - 1);
      await fresh.transaction(async (tx) => {
        const [d] = await tx.claimDueWebhookDeliveries('setup', T, 1, 1000);
        expect(d?.id).toBe(done.deliveries[0]!.id);
        await tx.completeWebhookAttempt({
          leaseOwner: 'setup',
          attempt: attempt(d!),
          status: 'succeeded',
          nextAttemptAt: null,
          completedAt: T,
        });
      });
      const claimed = await fresh.claimDueWebhookDeliveries('a', T, 10, 30_000);
      expect(ids(claimed)).toEqual([now.deliveries[0]!.id]);
      expect(claimed[0]).toMatchObject({ leaseOwner: 'a', leaseUntil: T + 30_000 });
      // held: nobody else gets it until the lease runs out
      expect(await fresh.claimDueWebhookDeliveries('b', T + 29_999, 10, 30_000)).toEqual([]);
      const reclaimed = await fresh.claimDueWebhookDeliveries('b', T + 30_000, 10, 30_000);
      expect(ids(reclaimed)).toEqual([now.deliveries[0]!.id]);
      // the first owner lost the lease: its late result is not recorded
      expect(
        await fresh.completeWebhookAttempt({
          leaseOwner: 'a',
          attempt: attempt(claimed[0]!),
          status: 'succeeded',
          nextAttemptAt: null,
          completedAt: T,
        }),
      ).toBe(false);
      expect(await fresh.listWebhookAttempts([now.deliveries[0]!.id])).toEqual([]);
      // the later delivery becomes due in its own time, oldest due first
      const both = await fresh.claimDueWebhookDeliveries('c', T + 120_000, 10, 1000);
      expect(ids(both)).toEqual([now.deliveries[0]!.id, later.deliveries[0]!.id]);
      await expect(fresh.claimDueWebhookDeliveries('c', T, 0, 1000)).rejects.toThrow(RangeError);
    });

    it('records attempts, schedules retries, and finishes a delivery', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const { deliveries } = await publish(store, account.id, [endpoint.id], 1_000);
      const id = deliveries[0]!.id;
      const mine = async (owner: string, now: number) =>
        (await store.claimDueWebhookDeliveries(owner, now, 1000, 5000)).find((d) => d.id === id);

      const first = await mine('w1', 1_000);
      expect(first?.attempts).toBe(0);
      const failed = attempt(first!, {
        startedAt: 1_000,
        statusCode: 500,
        succeeded: false,
        errorCode: 'http_status',
        responseExcerpt: 'oops',
      });
      expect(
        await store.completeWebhookAttempt({
          leaseOwner: 'w1',
          attempt: failed,
          status: 'pending',
          nextAttemptAt: 6_000,
          completedAt: null,
        }),
      ).toBe(true);
      expect(await store.getWebhookDelivery(id)).toMatchObject({
        status: 'pending',
        attempts: 1,
        nextAttemptAt: 6_000,
        leaseOwner: null,
        leaseUntil: null,
        lastStatusCode: 500,
        lastError: 'http_status',
        lastExcerpt: 'oops',
      });
      expect(await mine('w2', 5_999)).toBeUndefined();
      const second = await mine('w2', 6_000);
      expect(second?.attempts).toBe(1);
      const ok = attempt(second!, { startedAt: 6_000, latencyMs: 3 });
      await store.completeWebhookAttempt({
        leaseOwner: 'w2',
        attempt: ok,
        status: 'succeeded',
        nextAttemptAt: null,
        completedAt: 6_010,
      });
      expect(await store.getWebhookDelivery(id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        nextAttemptAt: null,
        completedAt: 6_010,
      });
      expect(await store.listWebhookAttempts([id])).toEqual([failed, ok]);
      expect(await mine('w3', 1_000_000)).toBeUndefined();
      // a finished delivery cannot be completed again, even by a stale owner
      expect(
        await store.completeWebhookAttempt({
          leaseOwner: 'w2',
          attempt: { ...ok, attempt: 3 },
          status: 'succeeded',
          nextAttemptAt: null,
          completedAt: 1,
        }),
      ).toBe(false);
    });

    it('records a batch of attempts in one call: only deliveries whose lease the owner still holds', async () => {
      const store = await (await databases.create()).open();
      await store.migrate();
      const { account, endpoint } = await endpointWithAccount(store);
      const published = [
        await publish(store, account.id, [endpoint.id], T),
        await publish(store, account.id, [endpoint.id], T + 1),
        await publish(store, account.id, [endpoint.id], T + 2),
      ];
      const [d1, d2, d3] = published.map((p) => p.deliveries[0]!) as [
        WebhookDeliveryRow,
        WebhookDeliveryRow,
        WebhookDeliveryRow,
      ];
      expect(ids(await store.claimDueWebhookDeliveries('w', T + 2, 10, 60_000))).toEqual([
        d1.id,
        d2.id,
        d3.id,
      ]);
      // d2's lease passes to another worker; d3 is finished before the batch is written
      await store.releaseWebhookLeases('w', [d2.id]);
      expect(ids(await store.claimDueWebhookDeliveries('x', T + 3, 10, 60_000))).toEqual([d2.id]);
      const a3 = attempt(d3, { startedAt: T + 3 });
      expect(
        await store.completeWebhookAttempt({
          leaseOwner: 'w',
          attempt: a3,
          status: 'succeeded',
          nextAttemptAt: null,
          completedAt: T + 4,
        }),
      ).toBe(true);
      const a1 = attempt(d1, {
        startedAt: T + 5,
        statusCode: 503,
        succeeded: false,
        errorCode: 'http_status',
      });
      const outcome = (a: WebhookAttemptRow) => ({
        leaseOwner: 'w',
        attempt: a,
        status: a.succeeded ? ('succeeded' as const) : ('pending' as const),
        nextAttemptAt: a.succeeded ? null : T + 5_000,
        completedAt: a.succeeded ? T + 6 : null,
      });
      const recorded = await store.completeWebhookAttempts([
        outcome(a1),
        outcome(attempt(d2, { startedAt: T + 5 })),
        outcome({ ...a3, attempt: 2 }),
      ]);
      expect(recorded).toEqual([d1.id]);
      expect(await store.getWebhookDelivery(d1.id)).toMatchObject({
        status: 'pending',
        attempts: 1,
        nextAttemptAt: T + 5_000,
        leaseOwner: null,
        lastStatusCode: 503,
        lastError: 'http_status',
      });
      expect(await store.getWebhookDelivery(d2.id)).toMatchObject({ attempts: 0, leaseOwner: 'x' });
      expect(await store.getWebhookDelivery(d3.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(await store.listWebhookAttempts([d1.id, d2.id, d3.id])).toEqual(
        [a1, a3].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : 1)),
      );
      // the second attempt moves the first to the attempt history; both stay listed, exactly
      expect(ids(await store.claimDueWebhookDeliveries('w', T + 5_000, 10, 60_000))).toEqual([d1.id]);
      const again = attempt({ ...d1, attempts: 1 }, { startedAt: T + 5_000, latencyMs: 7.25 });
      expect(await store.completeWebhookAttempts([outcome(again)])).toEqual([d1.id]);
      expect(await store.listWebhookAttempts([d1.id])).toEqual([a1, again]);
      expect(await store.getWebhookDelivery(d1.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
      await expect(store.completeWebhookAttempts([outcome(a1), outcome(a1)])).rejects.toThrow(RangeError);
      expect(await store.completeWebhookAttempts([])).toEqual([]);
    });

    // the store's own claim, and the dispatcher's outbox (a worker thread on a SQLite file)
    for (const via of ['store', 'outbox'] as const) {
      it(`claims attempts with their events and endpoints in due order; leased ones wait for their lease to run out (${via})`, async () => {
        const store = await (await databases.create()).open();
        await store.migrate();
        const { claim, close } = claimer(store, via);
        onTestFinished(close);
        const { account, endpoint } = await endpointWithAccount(store);
        const second = webhookEndpointFixture(account.id);
        await store.insertWebhookEndpoint(second);
        const late = await publish(store, account.id, [endpoint.id, second.id], T + 20);
        const early = await publish(store, account.id, [endpoint.id], T + 10);
        const notDue = await publish(store, account.id, [endpoint.id], T + 1_000);
        const first = await claim('w', T + 100, 2, 5_000);
        expect(first.deliveries).toEqual([
          {
            id: early.deliveries[0]!.id,
            eventId: early.event.id,
            endpointId: endpoint.id,
            attempts: 0,
            nextAttemptAt: T + 10,
          },
          expect.objectContaining({ eventId: late.event.id, attempts: 0, nextAttemptAt: T + 20 }),
        ]);
        expect([...first.events].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
          [early.event, late.event].sort((a, b) => (a.id < b.id ? -1 : 1)),
        );
        // the claimed deliveries' endpoints as they are, once each
        const endpointsOf = async (claimed: { deliveries: { endpointId: string }[] }) =>
          Promise.all(
            [...new Set(claimed.deliveries.map((d) => d.endpointId))]
              .sort()
              .map((id) => store.getWebhookEndpoint(id)),
          );
        const byId = <R extends { id: string }>(rows: R[]) =>
          [...rows].sort((a, b) => (a.id < b.id ? -1 : 1));
        expect(byId(first.endpoints)).toEqual(await endpointsOf(first));
        expect(await store.getWebhookDelivery(early.deliveries[0]!.id)).toMatchObject({
          leaseOwner: 'w',
          leaseUntil: T + 5_100,
        });
        const rest = await claim('x', T + 100, 10, 60_000);
        expect(rest.deliveries.map((d) => d.eventId)).toEqual([late.event.id]);
        expect(rest.events).toEqual([late.event]);
        expect(byId(rest.endpoints)).toEqual(await endpointsOf(rest));
        expect(rest.endpoints.length).toBe(1);
        expect(await claim('x', T + 100, 10, 5_000)).toEqual({ deliveries: [], events: [], endpoints: [] });
        // w's leases run out: another worker takes them over
        const taken = await claim('y', T + 5_100, 10, 5_000);
        expect(taken.deliveries.map((d) => d.id).sort()).toEqual(
          [...first.deliveries.map((d) => d.id), notDue.deliveries[0]!.id].sort(),
        );
        await expect(claim('y', T, 0, 5_000)).rejects.toThrow(RangeError);
      });

      it(`leaves the endpoints it is told to skip for later, taking the next due ones instead (${via})`, async () => {
        const store = await (await databases.create()).open();
        await store.migrate();
        const { claim, close } = claimer(store, via);
        onTestFinished(close);
        const { account, endpoint: busy } = await endpointWithAccount(store);
        const other = webhookEndpointFixture(account.id);
        await store.insertWebhookEndpoint(other);
        const backlog = [];
        for (let i = 0; i < 5; i++) backlog.push(await publish(store, account.id, [busy.id], T + i));
        const later = await publish(store, account.id, [other.id], T + 50);
        const claimed = await claim('w', T + 100, 3, 5_000, [busy.id]);
        expect(claimed.deliveries.map((d) => d.id)).toEqual([later.deliveries[0]!.id]);
        expect(claimed.events).toEqual([later.event]);
        // without the skip list, the busy endpoint's oldest come first again
        const next = await claim('w', T + 100, 3, 5_000, []);
        expect(next.deliveries.map((d) => d.id)).toEqual(backlog.slice(0, 3).map((b) => b.deliveries[0]!.id));
      });
    }

    it('the outbox records successes in one transaction and ends their endpoints’ failure runs', async () => {
      const store = await (await databases.create()).open();
      await store.migrate();
      const outbox = store.openWebhookOutbox();
      onTestFinished(() => outbox.close());
      const { account, endpoint } = await endpointWithAccount(store, { failingSince: T });
      const other = webhookEndpointFixture(account.id, { failingSince: T + 1 });
      const untouched = webhookEndpointFixture(account.id, { failingSince: T + 2 });
      await store.insertWebhookEndpoint(other);
      await store.insertWebhookEndpoint(untouched);
      const a = await publish(store, account.id, [endpoint.id, other.id], T);
      const b = await publish(store, account.id, [endpoint.id], T + 1);
      const claimed = await outbox.claim('w', T + 10, 10, 60_000);
      expect(claimed.deliveries).toHaveLength(3);
      const [d1, d2] = a.deliveries as [WebhookDeliveryRow, WebhookDeliveryRow];
      const d3 = b.deliveries[0]!;
      // d2's lease passes to another worker before the batch is written
      await store.releaseWebhookLeases('w', [d2.id]);
      expect(ids(await store.claimDueWebhookDeliveries('x', T + 11, 10, 60_000))).toEqual([d2.id]);
      const success = (d: WebhookDeliveryRow, startedAt: number) => ({
        leaseOwner: 'w',
        attempt: attempt(d, { startedAt, latencyMs: 4.75, responseExcerpt: null }),
        status: 'succeeded' as const,
        nextAttemptAt: null,
        completedAt: startedAt + 5,
      });
      const recorded = await outbox.completeSucceeded([
        success(d1, T + 20),
        success(d2, T + 20),
        success(d3, T + 21),
      ]);
      expect([...recorded].sort()).toEqual([d1.id, d3.id].sort());
      expect(await store.getWebhookDelivery(d1.id)).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        completedAt: T + 25,
        leaseOwner: null,
        leaseUntil: null,
        lastStatusCode: 200,
        lastLatencyMs: 4.75,
        lastExcerpt: null,
        lastError: null,
      });
      expect(await store.getWebhookDelivery(d2.id)).toMatchObject({
        status: 'pending',
        attempts: 0,
        leaseOwner: 'x',
      });
      expect(await store.listWebhookAttempts([d1.id, d3.id])).toHaveLength(2);
      // only the endpoint with an attempt recorded has its run of failures ended
      expect((await store.getWebhookEndpoint(endpoint.id))?.failingSince).toBeNull();
      expect((await store.getWebhookEndpoint(other.id))?.failingSince).toBe(T + 1);
      expect((await store.getWebhookEndpoint(untouched.id))?.failingSince).toBe(T + 2);
      // a second attempt moves the first to the history, exactly as the store's own completion does
      const retried = await publish(store, account.id, [other.id], T + 30);
      const r = retried.deliveries[0]!;
      expect(ids(await store.claimDueWebhookDeliveries('w', T + 30, 1, 60_000))).toEqual([r.id]);
      const failed = attempt(r, {
        startedAt: T + 31,
        statusCode: 500,
        succeeded: false,
        errorCode: 'http_status',
      });
      expect(
        await store.completeWebhookAttempts([
          { leaseOwner: 'w', attempt: failed, status: 'pending', nextAttemptAt: T + 40, completedAt: null },
        ]),
      ).toEqual([r.id]);
      expect((await outbox.claim('v', T + 40, 10, 60_000)).deliveries.map((d) => d.id)).toEqual([r.id]);
      const second = success({ ...r, attempts: 1 }, T + 41);
      second.leaseOwner = 'v';
      expect(await outbox.completeSucceeded([second])).toEqual([r.id]);
      expect(await store.listWebhookAttempts([r.id])).toEqual([failed, second.attempt]);
      expect((await store.getWebhookEndpoint(other.id))?.failingSince).toBeNull();
      // finished: nothing more is recorded, even by its last owner
      expect(
        await outbox.completeSucceeded([{ ...second, attempt: { ...second.attempt, attempt: 3 } }]),
      ).toEqual([]);
      await expect(outbox.completeSucceeded([second, second])).rejects.toThrow(RangeError);
      expect(await outbox.completeSucceeded([])).toEqual([]);
      // one batch from two owners: each recorded only where its own owner still holds the lease
      const mixed = await publish(store, account.id, [endpoint.id, other.id, untouched.id], T + 50);
      const [m1, m2, m3] = mixed.deliveries as [WebhookDeliveryRow, WebhookDeliveryRow, WebhookDeliveryRow];
      expect(ids(await store.claimDueWebhookDeliveries('p', T + 50, 2, 60_000)).sort()).toEqual(
        [m1.id, m2.id].sort(),
      );
      expect(ids(await store.claimDueWebhookDeliveries('q', T + 50, 1, 60_000))).toEqual([m3.id]);
      const by = (owner: string, d: WebhookDeliveryRow) => ({ ...success(d, T + 51), leaseOwner: owner });
      // m2 is claimed by p, not q: q's record of it is refused
      expect([...(await outbox.completeSucceeded([by('p', m1), by('q', m2), by('q', m3)]))].sort()).toEqual(
        [m1.id, m3.id].sort(),
      );
      expect(await store.getWebhookDelivery(m2.id)).toMatchObject({ status: 'pending', leaseOwner: 'p' });
      expect(await store.getWebhookDelivery(m3.id)).toMatchObject({ status: 'succeeded', leaseOwner: null });
    });

    it('reads events and endpoints by id, and clears endpoints’ failure runs', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store, { failingSince: T });
      const other = webhookEndpointFixture(account.id, { failingSince: T + 1 });
      await store.insertWebhookEndpoint(other);
      const a = await publish(store, account.id, [endpoint.id]);
      const b = await publish(store, account.id, [endpoint.id]);
      expect(
        (await store.getEvents([a.event.id, 'evt_missing', b.event.id])).sort((x, y) =>
          x.id < y.id ? -1 : 1,
        ),
      ).toEqual([a.event, b.event].sort((x, y) => (x.id < y.id ? -1 : 1)));
      expect(await store.getEvents([])).toEqual([]);
      expect(ids(await store.getWebhookEndpoints([endpoint.id, 'we_missing']))).toEqual([endpoint.id]);
      await store.clearWebhookEndpointsFailing([endpoint.id, 'we_missing']);
      expect((await store.getWebhookEndpoint(endpoint.id))?.failingSince).toBeNull();
      expect((await store.getWebhookEndpoint(other.id))?.failingSince).toBe(T + 1);
      await store.clearWebhookEndpointsFailing([]);
    });

    it('releases leases, requeues finished deliveries and abandons an endpoint’s pending ones', async () => {
      const store = await (await databases.create()).open();
      await store.migrate();
      const { account, endpoint } = await endpointWithAccount(store);
      const a = await publish(store, account.id, [endpoint.id], T);
      const b = await publish(store, account.id, [endpoint.id], T + 10);
      const [da, db] = [a.deliveries[0]!, b.deliveries[0]!];
      const claimed = await store.claimDueWebhookDeliveries('w', T + 10, 10, 60_000);
      expect(ids(claimed)).toEqual([da.id, db.id]);
      expect(await store.releaseWebhookLeases('someone-else', [da.id])).toBe(0);
      expect(await store.releaseWebhookLeases('w', [da.id], T + 500)).toBe(1);
      expect(await store.releaseWebhookLeases('w', [])).toBe(0);
      expect(await store.getWebhookDelivery(da.id)).toMatchObject({
        leaseOwner: null,
        nextAttemptAt: T + 500,
      });
      expect(ids(await store.claimDueWebhookDeliveries('x', T + 500, 10, 1))).toEqual([da.id]);
      await store.completeWebhookAttempt({
        leaseOwner: 'w',
        attempt: attempt(db, { succeeded: false, statusCode: 500 }),
        status: 'failed',
        nextAttemptAt: null,
        completedAt: T + 20,
      });
      expect(
        await store.requeueWebhookDeliveries(
          { endpointId: endpoint.id, statuses: ['failed'], since: T + 11 },
          T + 30,
          100,
        ),
      ).toBe(0);
      expect(
        await store.requeueWebhookDeliveries(
          { endpointId: endpoint.id, statuses: ['failed'], since: T },
          T + 30,
          100,
        ),
      ).toBe(1);
      expect(await store.getWebhookDelivery(db.id)).toMatchObject({
        status: 'pending',
        nextAttemptAt: T + 30,
        completedAt: null,
        attempts: 1,
      });
      expect(await store.abandonWebhookDeliveries(endpoint.id, T + 40)).toBe(2);
      expect(await store.getWebhookDelivery(da.id)).toMatchObject({
        status: 'abandoned',
        nextAttemptAt: null,
        completedAt: T + 40,
      });
      expect(
        await store.requeueWebhookDeliveries({ eventId: a.event.id, statuses: ['abandoned'] }, T + 50, 100),
      ).toBe(1);
      expect(
        await store.listWebhookDeliveries({ endpointId: endpoint.id, status: 'pending' }, { limit: 10 }),
      ).toMatchObject({
        data: [{ id: da.id }],
        hasMore: false,
      });
    });

    it('requeues nothing to a disabled endpoint', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const off = webhookEndpointFixture(account.id, {
        status: 'disabled',
        disabledReason: 'disabled_by_user',
      });
      await store.insertWebhookEndpoint(off);
      const event = eventFixture(account.id, { createdAt: T });
      const finished = { status: 'failed', nextAttemptAt: null, completedAt: T + 1 } as const;
      const [on, skipped] = [endpoint.id, off.id].map((id) => webhookDeliveryFixture(event.id, id, finished));
      await store.transaction(async (tx) => {
        await tx.insertEvent(event);
        await tx.insertWebhookDeliveries([on!, skipped!]);
      });
      expect(
        await store.requeueWebhookDeliveries({ eventId: event.id, statuses: ['failed'] }, T + 2, 100),
      ).toBe(1);
      expect(await store.getWebhookDelivery(on!.id)).toMatchObject({
        status: 'pending',
        nextAttemptAt: T + 2,
      });
      expect(await store.getWebhookDelivery(skipped!.id)).toEqual(skipped);
    });

    it('requeues by when the event was created, not its delivery', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const event = eventFixture(account.id, { createdAt: T });
      // made two days after its event (a redelivery to an endpoint added since)
      const late = webhookDeliveryFixture(event.id, endpoint.id, {
        status: 'failed',
        nextAttemptAt: null,
        createdAt: T + 2 * 86_400_000,
        completedAt: T + 2 * 86_400_000,
      });
      await store.transaction(async (tx) => {
        await tx.insertEvent(event);
        await tx.insertWebhookDeliveries([late]);
      });
      const requeue = (since: number) =>
        store.requeueWebhookDeliveries({ endpointId: endpoint.id, statuses: ['failed'], since }, T + 3, 100);
      expect(await requeue(T + 86_400_000)).toBe(0);
      expect(await requeue(T + 1)).toBe(0);
      expect(await requeue(T)).toBe(1);
    });

    it('with pending among the statuses, makes deliveries waiting for a retry due now, not leased ones', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const event = eventFixture(account.id, { createdAt: T });
      const retry = { attempts: 2, lastStatusCode: 500, lastAttemptAt: T } as const;
      const waiting = webhookDeliveryFixture(event.id, endpoint.id, { ...retry, nextAttemptAt: T + 300_000 });
      const due = webhookDeliveryFixture(event.id, endpoint.id, { nextAttemptAt: T - 5 });
      const leased = webhookDeliveryFixture(event.id, endpoint.id, {
        ...retry,
        nextAttemptAt: T + 300_000,
        leaseOwner: 'w',
        leaseUntil: T + 60_000,
      });
      const failed = webhookDeliveryFixture(event.id, endpoint.id, {
        status: 'failed',
        nextAttemptAt: null,
        completedAt: T,
      });
      await store.transaction(async (tx) => {
        await tx.insertEvent(event);
        await tx.insertWebhookDeliveries([waiting, due, leased, failed]);
      });
      // without pending in the statuses, only finished deliveries move
      expect(
        await store.requeueWebhookDeliveries({ eventId: event.id, statuses: ['succeeded'] }, T, 100),
      ).toBe(0);
      expect(await store.getWebhookDelivery(waiting.id)).toEqual(waiting);
      expect(
        await store.requeueWebhookDeliveries({ eventId: event.id, statuses: ['pending', 'failed'] }, T, 100),
      ).toBe(3);
      expect(await store.getWebhookDelivery(waiting.id)).toEqual({ ...waiting, nextAttemptAt: T });
      expect(await store.getWebhookDelivery(due.id)).toEqual(due);
      expect(await store.getWebhookDelivery(leased.id)).toEqual(leased);
      expect(await store.getWebhookDelivery(failed.id)).toMatchObject({
        status: 'pending',
        nextAttemptAt: T,
      });
      // the limit counts both kinds
      expect(
        await store.requeueWebhookDeliveries({ eventId: event.id, statuses: ['pending'] }, T + 1, 2),
      ).toBe(2);
    });

    it('deleting an endpoint removes its deliveries and attempts, not the events', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const { event, deliveries } = await publish(store, account.id, [endpoint.id], 5);
      const [d] = await store
        .claimDueWebhookDeliveries('w', 5, 1000, 1000)
        .then((r) => r.filter((x) => x.id === deliveries[0]!.id));
      await store.completeWebhookAttempt({
        leaseOwner: 'w',
        attempt: attempt(d!),
        status: 'succeeded',
        nextAttemptAt: null,
        completedAt: 6,
      });
      expect(await store.deleteWebhookEndpoint(endpoint.id)).toBe(true);
      expect(await store.deleteWebhookEndpoint(endpoint.id)).toBe(false);
      expect(await store.getWebhookDelivery(d!.id)).toBeUndefined();
      expect(await store.listWebhookAttempts([d!.id])).toEqual([]);
      expect(await store.getEvent(event.id)).toEqual(event);
    });

    it('transactions that lock the event first see each other’s deliveries (one per endpoint)', async () => {
      const store = shared();
      const { account, endpoint } = await endpointWithAccount(store);
      const { event } = await publish(store, account.id, []);
      // the redelivery's read-then-write: without the lock, concurrent ones all find nothing
      const redeliver = () =>
        store.transaction(async (tx) => {
          expect(await tx.getEventForUpdate(event.id)).toEqual(event);
          const found = await tx.listWebhookDeliveries(
            { eventId: event.id, endpointId: endpoint.id },
            { limit: 1 },
          );
          if (found.data.length === 0)
            await tx.insertWebhookDeliveries([webhookDeliveryFixture(event.id, endpoint.id)]);
        });
      await Promise.all(Array.from({ length: 8 }, redeliver));
      const made = await store.listWebhookDeliveries({ eventId: event.id }, { limit: 100 });
      expect(made.data).toHaveLength(1);
      expect(await store.getEventForUpdate('evt_missing')).toBeUndefined();
    });

    it('two Stores claiming at once never get the same delivery', async () => {
      const database = await databases.create();
      const a = await database.open();
      await a.migrate();
      const b = await database.open();
      const { account, endpoint } = await endpointWithAccount(a);
      const total = 300;
      const event = eventFixture(account.id);
      const rows = Array.from({ length: total }, () =>
        webhookDeliveryFixture(event.id, endpoint.id, { nextAttemptAt: T }),
      );
      await a.transaction(async (tx) => {
        await tx.insertEvent(event);
        await tx.insertWebhookDeliveries(rows);
      });
      const seen = new Map<string, string>();
      const duplicates: string[] = [];
      const worker = async (store: Store, owner: string) => {
        for (;;) {
          // both claims, the general one and the dispatcher's, share the leases
          const batch = owner.endsWith('1')
            ? await store.claimDueWebhookDeliveries(owner, T, 7, 600_000)
            : (await store.claimWebhookAttempts(owner, T, 7, 600_000)).deliveries;
          if (batch.length === 0) return;
          for (const d of batch) {
            if (seen.has(d.id)) duplicates.push(d.id);
            seen.set(d.id, owner);
          }
        }
      };
      await Promise.all([worker(a, 'a1'), worker(b, 'b1'), worker(a, 'a2'), worker(b, 'b2')]);
      expect(duplicates).toEqual([]);
      expect(seen.size).toBe(total);
      const owners = new Set(seen.values());
      expect(owners.size).toBeGreaterThan(1);
    });
  });
}

/** `key.expiring` bookkeeping: which keys are due a notice, and each notice recorded once. */
export function keyExpiryNoticeConformance(databases: TestDatabases): void {
  describe('key expiry notices', () => {
    it('finds keys expiring within the window without a notice, and records each notice once', async () => {
      const store = await (await databases.create()).open();
      await store.migrate();
      const account = accountFixture();
      await store.insertAccount(account);
      const DAY = 24 * 3600_000;
      const soon = keyFixture(account.id, { expiresAt: T + DAY / 2 });
      const week = keyFixture(account.id, { expiresAt: T + 6 * DAY });
      const later = keyFixture(account.id, { expiresAt: T + 30 * DAY });
      const past = keyFixture(account.id, { expiresAt: T - 1 });
      const revoked = keyFixture(account.id, { expiresAt: T + DAY / 2, revokedAt: T - 5 });
      const never = keyFixture(account.id);
      for (const k of [soon, week, later, past, revoked, never]) await store.insertKey(k);
      const due = async (threshold: string, within: number) =>
        ids(await store.keysDueExpiryNotice(threshold, T, within, 100));
      expect(await due('7d', 7 * DAY)).toEqual([soon.id, week.id]);
      expect(await due('1d', DAY)).toEqual([soon.id]);
      const notice = { keyId: soon.id, threshold: '7d', expiresAt: soon.expiresAt!, createdAt: T };
      expect(await store.recordKeyExpiryNotice(notice)).toBe(true);
      expect(await store.recordKeyExpiryNotice(notice)).toBe(false);
      expect(await due('7d', 7 * DAY)).toEqual([week.id]);
      expect(await due('1d', DAY)).toEqual([soon.id]);
      // a new expiry time is a new notice
      await store.updateKey(soon.id, { expiresAt: T + DAY / 3 });
      expect(await due('7d', 7 * DAY)).toEqual([soon.id, week.id]);
    });
  });
}
