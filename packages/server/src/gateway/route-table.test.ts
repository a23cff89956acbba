import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from './gateway-config.js';
import { cleanSegments, compileRoutes, matchRoute } from './route-table.js';

const routes = compileRoutes(
  parseGatewayConfig({
    routes: [
      { method: 'POST', path: '/v1/payments/:id/refund', scope: 'refunds:write' },
      { method: 'GET', path: '/v1/public/*', public: true },
      { path: '/v1/simulate/*', modes: ['test'] },
    ],
  }).routes,
);

describe('route table', () => {
  it('matches methods, :params and trailing wildcards', () => {
    expect(matchRoute(routes, 'POST', '/v1/payments/pi_1/refund')?.scope).toBe('refunds:write');
    expect(matchRoute(routes, 'POST', '/v1/payments/pi_1/refund/')?.scope).toBe('refunds:write');
    expect(matchRoute(routes, 'GET', '/v1/payments/pi_1/refund')).toBeNull();
    expect(matchRoute(routes, 'POST', '/v1/payments/pi_1')).toBeNull();
    expect(matchRoute(routes, 'GET', '/v1/public/config')?.public).toBe(true);
    expect(matchRoute(routes, 'HEAD', '/v1/public/a/b')?.public).toBe(true);
    expect(matchRoute(routes, 'GET', '/v1/public')?.public).toBe(true);
    expect(matchRoute(routes, 'DELETE', '/v1/simulate/x')?.modes).toEqual(['test']);
  });

  it('matches nothing for paths an upstream might resolve differently', () => {
    for (const path of [
      '/v1/public/../payments',
      '/v1/public/./x',
      '/v1/public/%2e%2e/payments',
      '/v1/public%2f..',
      '/v1/public/..;/x',
      '/v1/public\\..\\x',
      '/v1//public/x',
      'v1/public/x',
      '/v1/public/x\u0000',
    ]) {
      expect(matchRoute(routes, 'GET', path), path).toBeNull();
      expect(cleanSegments(path), path).toBeNull();
    }
  });
});
