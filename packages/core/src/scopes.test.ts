import { SCOPE_PATTERN } from '@gatehouse/contract';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReadOnly, requiredScopeFor, scopeAllows } from './scopes.js';

const resource = fc.constantFrom('payments', 'refunds', 'customers', 'keys', 'events', 'a_b1');
const scope = fc.oneof(
  fc.constant('*'),
  fc.tuple(resource, fc.constantFrom('read', 'write', '*')).map(([r, a]) => `${r}:${a}`),
);

describe('scopeAllows', () => {
  it.each([
    [['*'], 'payments:write', true],
    [['*'], '*', true],
    [['payments:*'], 'payments:read', true],
    [['payments:*'], 'payments:write', true],
    [['payments:*'], 'payments:*', true],
    [['payments:write'], 'payments:read', true],
    [['payments:write'], 'payments:write', true],
    [['payments:read'], 'payments:read', true],
    [['payments:read'], 'payments:write', false],
    [['payments:read'], 'payments:*', false],
    [['payments:write'], 'payments:*', false],
    [['payments:*'], 'refunds:read', false],
    [['payments:*'], '*', false],
    [['payments:write', 'refunds:read'], 'refunds:read', true],
    [[], 'payments:read', false],
    [['payments'], 'payments:read', false],
    [['payments:read'], 'payments', false],
    [['payments:read'], ':read', false],
    [['payments:readwrite'], 'payments:read', false],
    [['pay*'], 'payments:read', false],
    [['payments:Read'], 'payments:read', false],
  ] as const)('%j allows %s: %s', (held, required, expected) => {
    expect(scopeAllows(held, required)).toBe(expected);
  });

  it('never loses a permission when a scope is added', () => {
    fc.assert(
      fc.property(fc.array(scope), scope, scope, (held, extra, required) => {
        if (scopeAllows(held, required)) expect(scopeAllows([...held, extra], required)).toBe(true);
      }),
    );
  });

  it('lets write imply read but never read imply write', () => {
    fc.assert(
      fc.property(fc.array(scope), resource, (held, r) => {
        if (scopeAllows(held, `${r}:write`)) expect(scopeAllows(held, `${r}:read`)).toBe(true);
        const readsOnly = held.filter((s) => s.endsWith(':read'));
        expect(scopeAllows(readsOnly, `${r}:write`)).toBe(false);
      }),
    );
  });

  it('lets only * and the same resource grant anything', () => {
    fc.assert(
      fc.property(fc.array(scope), resource, fc.constantFrom('read', 'write'), (held, r, action) => {
        const relevant = held.filter((s) => s === '*' || s.startsWith(`${r}:`));
        expect(scopeAllows(held, `${r}:${action}`)).toBe(scopeAllows(relevant, `${r}:${action}`));
      }),
    );
  });
});

describe('isReadOnly', () => {
  it.each([
    [[], true],
    [['payments:read'], true],
    [['payments:read', 'refunds:read'], true],
    [['payments:read', 'refunds:write'], false],
    [['payments:*'], false],
    [['*'], false],
    [['payments'], false],
    [['x:read:read'], false],
  ] as const)('%j: %s', (scopes, expected) => {
    expect(isReadOnly(scopes)).toBe(expected);
  });

  it('agrees with scopeAllows: a read-only set never allows a write', () => {
    fc.assert(
      fc.property(fc.array(scope), resource, (held, r) => {
        if (isReadOnly(held)) expect(scopeAllows(held, `${r}:write`)).toBe(false);
      }),
    );
  });
});

describe('requiredScopeFor', () => {
  it.each([
    ['GET', '/v1/payments/pi_1', 'payments:read'],
    ['HEAD', '/v1/payments/pi_1', 'payments:read'],
    ['OPTIONS', '/v1/payments', 'payments:read'],
    ['get', '/v1/payments', 'payments:read'],
    ['POST', '/v1/payments', 'payments:write'],
    ['DELETE', '/v1/payments/pi_1', 'payments:write'],
    ['PATCH', '/v1/payments/pi_1', 'payments:write'],
    ['PUT', '/v1/payments/pi_1', 'payments:write'],
    ['GET', '/v1/payments/', 'payments:read'],
    ['GET', '/v1/payments?limit=3&x=/v1/refunds', 'payments:read'],
    ['GET', '/v1/payments#frag', 'payments:read'],
    ['GET', '/v1/Payment-Intents/pi_1', 'payment_intents:read'],
    ['GET', '/v1/%70ayments', 'payments:read'],
    ['GET', '/v2/refunds', 'refunds:read'],
    ['GET', '/payments', 'payments:read'],
    ['POST', '/v1/payments;jsessionid=1', 'payments_jsessionid_1:write'],
  ])('%s %s needs %s', (method, path, expected) => {
    expect(requiredScopeFor(method, path)).toBe(expected);
    expect(expected).toMatch(SCOPE_PATTERN);
  });

  it.each([
    '/v1/refunds/../payments',
    '/v1/refunds/%2e%2e/payments',
    '/v1/refunds/%2E./payments',
    '/v1/refunds/..;/payments',
    '/v1/./payments',
    '/v1//payments',
    '//payments',
    '/v1/refunds%2f..%2fpayments',
    '/v1/refunds%5c..%5cpayments',
    '/v1/refunds\\..\\payments',
    '/v1/payments%00',
    '/v1/payments%',
    '/v1/%E0%A4%A',
    '/v1',
    '/v1/',
    '/',
    '',
    'v1/payments',
    'http://upstream/v1/payments',
  ])('refuses to guess for %j: only * will do', (path) => {
    expect(requiredScopeFor('GET', path)).toBe('*');
  });

  it('never throws and always returns * or resource:read|write', () => {
    fc.assert(
      fc.property(fc.string(), fc.oneof(fc.string(), fc.webPath()), (method, path) => {
        expect(requiredScopeFor(method, path)).toMatch(/^(\*|[^:]+:(read|write))$/);
      }),
    );
  });
});
