import {
  ApiKey,
  CreateKeyRequest,
  GatehouseError,
  idPattern,
  KeyListQuery,
  KeyVerification,
  listOf,
  RevokeKeyRequest,
  RollKeyRequest,
  UpdateKeyRequest,
  VerifyKeyRequest,
} from '@gatehouse/contract';
import { type AnyRoute, defineRoute, listResponse } from '../http/route.js';
import type { Runtime } from '../runtime.js';

const KEY_ID = idPattern('key');
/** A path id that is not even shaped like a key id is simply "no such object". */
export function keyIdParam(params: Record<string, string>): string {
  const id = params['id'] ?? '';
  if (!KEY_ID.test(id)) throw new GatehouseError('resource_missing', { param: 'id' });
  return id;
}

export function keyRoutes(rt: Runtime): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/v1/keys',
      summary: 'Create an API key (the secret is in this response only)',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:write',
      body: CreateKeyRequest,
      response: ApiKey,
      handler: ({ caller, body }) => rt.keys.create(caller, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/keys',
      summary: 'List API keys, newest first',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:read',
      query: KeyListQuery,
      response: listOf(ApiKey, 'ApiKeyList'),
      handler: async ({ caller, query }) => listResponse('/v1/keys', await rt.keys.list(caller, query)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/keys/verify',
      summary: 'Verify a key (service use, operator key)',
      tag: 'keys',
      auth: 'operator',
      body: VerifyKeyRequest,
      response: KeyVerification,
      handler: ({ caller, body, request }) => rt.keys.verify(caller, body.key, request.ip),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/keys/:id',
      summary: 'Retrieve an API key',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:read',
      response: ApiKey,
      handler: ({ caller, params }) => rt.keys.get(caller, keyIdParam(params)),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/keys/:id',
      summary: 'Update a key’s name, scopes, IP allowlist, rate limits, expiry or metadata',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:write',
      body: UpdateKeyRequest,
      response: ApiKey,
      handler: ({ caller, params, body }) => rt.keys.update(caller, keyIdParam(params), body),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/keys/:id/roll',
      summary: 'Roll a key: a new key now, the old one works for the grace period',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:write',
      body: RollKeyRequest,
      response: ApiKey,
      handler: ({ caller, params, body }) => rt.keys.roll(caller, keyIdParam(params), body),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/keys/:id/revoke',
      summary: 'Revoke a key: refused at once on every instance',
      tag: 'keys',
      auth: 'key',
      scope: 'keys:write',
      body: RevokeKeyRequest,
      response: ApiKey,
      handler: ({ caller, params, body }) => rt.keys.revoke(caller, keyIdParam(params), body),
    }),
  ];
}
