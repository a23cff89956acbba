import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness } from '../test-kit/harness.js';

describe('service routes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  it('answers health and readiness without a key', async () => {
    const health = await call(h, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    expect(health.headers['request-id']).toMatch(/^req_/);
    const ready = await call(h, 'GET', '/readyz');
    expect(ready.body).toEqual({ status: 'ready' });
  });

  it('reports not ready when the store is gone', async () => {
    const other = await createHarness();
    await other.store.close();
    const ready = await call(other, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ status: 'unavailable' });
    await other.app.close();
    await other.runtime.close().catch(() => {});
    await other.kv.close();
  });

  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const doc = await call(h, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const paths = doc.body.paths as Record<string, Record<string, unknown>>;
    for (const [path, method] of [
      ['/v1/keys', 'post'],
      ['/v1/keys', 'get'],
      ['/v1/keys/{id}/roll', 'post'],
      ['/v1/keys/{id}/revoke', 'post'],
      ['/v1/keys/verify', 'post'],
      ['/v1/account', 'get'],
      ['/v1/accounts', 'post'],
      ['/v1/audit_events', 'get'],
    ] as const) {
      expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    const roll = paths['/v1/keys/{id}/roll']?.['post'] as {
      requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } };
    };
    expect(
      roll.requestBody.content['application/json'].schema.properties['grace_period_seconds'],
    ).toMatchObject({
      minimum: 0,
      maximum: 2592000,
    });
    const create = paths['/v1/keys']?.['post'] as {
      requestBody: { content: { 'application/json': { schema: { additionalProperties: unknown } } } };
    };
    expect(create.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(doc.body.components.schemas.ApiKey).toBeDefined();
  });
});
