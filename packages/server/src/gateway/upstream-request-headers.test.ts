import { describe, expect, it } from 'vitest';
import {
  downstreamResponseHeaders,
  upstreamRequestHeaders,
  upstreamUpgradeRequestHeaders,
} from './upstream-request-headers.js';

describe('upstream request headers', () => {
  it('drops hop-by-hop headers, those the Connection header names, Authorization and any Gatehouse-*', () => {
    const out = upstreamRequestHeaders(
      {
        connection: 'x-hop, Keep-Alive',
        'x-hop': 'secret',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        host: 'gatehouse.example',
        authorization: 'Bearer sk_test_x',
        'gatehouse-account': 'acct_forged',
        'gatehouse-whatever': 'x',
        'x-forwarded-for': '1.2.3.4',
        'content-type': 'application/json',
        accept: 'application/json',
      },
      { 'gatehouse-account': 'acct_real', 'request-id': 'req_1' },
      '203.0.113.9',
    );
    expect(out).toEqual({
      'content-type': 'application/json',
      accept: 'application/json',
      'gatehouse-account': 'acct_real',
      'request-id': 'req_1',
      'x-forwarded-for': '203.0.113.9',
      'x-real-ip': '203.0.113.9',
    });
  });

  it('passes response headers on without hop-by-hop ones and sets the request id', () => {
    expect(
      downstreamResponseHeaders(
        {
          'content-type': 'text/plain',
          connection: 'close',
          'transfer-encoding': 'chunked',
          'request-id': 'up',
        },
        'req_2',
        { ratelimit: '"w1";r=1;t=1' },
      ),
    ).toEqual({ 'content-type': 'text/plain', ratelimit: '"w1";r=1;t=1', 'request-id': 'req_2' });
  });

  it('keeps Upgrade and Connection: Upgrade for a handshake, and drops the rest as for any request', () => {
    const incoming = {
      connection: 'keep-alive, Upgrade, x-hop',
      'x-hop': 'secret',
      upgrade: 'websocket',
      authorization: 'Bearer sk_test_x',
      'gatehouse-key-id': 'key_forged',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    };
    const identity = { 'gatehouse-key-id': 'key_real', 'request-id': 'req_1' };
    expect(upstreamUpgradeRequestHeaders(incoming, identity, null)).toEqual({
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      'gatehouse-key-id': 'key_real',
      'request-id': 'req_1',
    });
    // the plain variant still strips them
    const plain = upstreamRequestHeaders(incoming, identity, null);
    expect(plain['upgrade']).toBeUndefined();
    expect(plain['connection']).toBeUndefined();
  });
});
