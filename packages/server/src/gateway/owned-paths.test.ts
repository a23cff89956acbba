import { describe, expect, it } from 'vitest';
import { isOwnedPath } from './owned-paths.js';

describe('owned paths', () => {
  it('keeps Gatehouse’s own resources and sends everything else upstream', () => {
    for (const url of [
      '/v1/keys',
      '/v1/keys/key_1/roll',
      '/v1/account',
      '/v1/keys?limit=3',
      '/healthz',
      '/_gatehouse/authorize',
    ]) {
      expect(isOwnedPath(url), url).toBe(true);
    }
    for (const url of ['/v1/payments', '/v1/keysmith', '/v1/accountsx', '/', '/v2/keys', '/healthzz']) {
      expect(isOwnedPath(url), url).toBe(false);
    }
  });
});
