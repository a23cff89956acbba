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

  it('compares segments percent-decoded, and literal ones without case', () => {
    for (const path of ['/v1/payments/pi_1/%72efund', '/v1/payments/pi_1/REFUND', '/V1/Payments/pi_1/Refund'])
      expect(matchRoute(routes, 'POST', path)?.scope, path).toBe('refunds:write');
    expect(cleanSegments('/v1/customers/a%40b.example')).toEqual(['v1', 'customers', 'a@b.example']);
  });

  it('holds a path an upstream might resolve differently to the strictest route: any route it could be', () => {
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
      '/v1/payments/pi_1/refund#x',
      '/v1/payments/pi_1/refund;x',
      '/v1/payments/pi_1/%2572efund',
      '/v1/payments/pi_1/%zz',
    ]) {
      expect(matchRoute(routes, 'GET', path), path).toEqual({
        method: '*',
        segments: [],
        wildcard: true,
        scope: '*',
        public: false,
        modes: ['test'], // the only mode every mode-limited route allows
      });
      expect(cleanSegments(path), path).toBeNull();
    }
    expect(matchRoute([], 'GET', '/v1/public/../payments')).toBeNull(); // no routes: scope from the path
  });
});
