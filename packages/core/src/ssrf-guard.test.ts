import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  classifyAddress,
  type LookupAddress,
  parseWebhookUrl,
  resolveWebhookTarget,
  type WebhookLookup,
  WebhookUrlError,
} from './ssrf-guard.js';

// Every lookup here is injected: no test sends or resolves anything on a real network.
const answering =
  (...addresses: string[]): WebhookLookup =>
  async () =>
    addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));

const refusal = (fn: () => unknown): WebhookUrlError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookUrlError);
    return err as WebhookUrlError;
  }
  throw new Error('expected a WebhookUrlError');
};

const refusalAsync = async (p: Promise<unknown>): Promise<WebhookUrlError> => {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookUrlError);
    return err as WebhookUrlError;
  }
  throw new Error('expected a WebhookUrlError');
};

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const dotted = ([a, b, c, d]: [number, number, number, number]) => `${a}.${b}.${c}.${d}`;
const hex16 = (n: number) => n.toString(16);

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['169.254.1.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:808:808::1', 'public'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001::200e', 'public'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it('throws for text that is not an address', () => {
    for (const bad of ['', 'localhost', '127.1', '0x7f000001', '1.2.3.4.5', 'fe80::1%eth0']) {
      expect(() => classifyAddress(bad)).toThrow(TypeError);
    }
  });

  it('gives every IPv6 form that carries an IPv4 address the class of that address', () => {
    fc.assert(
      fc.property(v4, (parts) => {
        const ip = dotted(parts);
        const cls = classifyAddress(ip);
        const [a, b, c, d] = parts;
        const hi = hex16((a << 8) | b);
        const lo = hex16((c << 8) | d);
        expect(classifyAddress(`::ffff:${ip}`)).toBe(cls);
        expect(classifyAddress(`::ffff:${hi}:${lo}`)).toBe(cls);
        expect(classifyAddress(`64:ff9b::${ip}`)).toBe(cls);
        expect(classifyAddress(`2002:${hi}:${lo}::1`)).toBe(cls);
        if (a !== 0) expect(classifyAddress(`::${ip}`)).toBe(cls);
      }),
    );
  });

  it('classes every address of the private, loopback, link-local and CGNAT ranges as such', () => {
    const inRange = (base: number, bits: number) =>
      fc.nat(2 ** (32 - bits) - 1).map((n) => {
        const x = (base + n) >>> 0;
        return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
      });
    const cases: [fc.Arbitrary<string>, string][] = [
      [inRange(0x0a000000, 8), 'private'],
      [inRange(0xac100000, 12), 'private'],
      [inRange(0xc0a80000, 16), 'private'],
      [inRange(0x7f000000, 8), 'loopback'],
      [inRange(0x64400000, 10), 'cgnat'],
    ];
    for (const [arb, cls] of cases)
      fc.assert(
        fc.property(arb, (ip) => {
          expect(classifyAddress(ip)).toBe(cls);
        }),
      );
    fc.assert(
      fc.property(inRange(0xa9fe0000, 16), (ip) => {
        expect(['link_local', 'metadata']).toContain(classifyAddress(ip));
      }),
    );
  });
});

describe('parseWebhookUrl', () => {
  const test = { mode: 'test' as const };
  const live = { mode: 'live' as const };

  it('accepts a public https URL and reports host and port', () => {
    const parsed = parseWebhookUrl('https://hooks.example.com/in?x=1', live);
    expect(parsed.hostname).toBe('hooks.example.com');
    expect(parsed.port).toBe(443);
    expect(parsed.address).toBeNull();
    expect(parseWebhookUrl('http://8.8.8.8:8080/', test).port).toBe(8080);
  });

  it('refuses other schemes, credentials, port 0 and nonsense as webhook_url_invalid', () => {
    for (const [url, reason] of [
      ['ftp://example.com/', 'scheme'],
      ['file:///etc/passwd', 'scheme'],
      ['javascript:alert(1)', 'scheme'],
      ['https://user:pass@example.com/', 'credentials'],
      ['https://user@example.com/', 'credentials'],
      ['https://example.com:0/', 'port'],
      ['not a url', 'malformed'],
      ['', 'malformed'],
      [`https://example.com/${'a'.repeat(3000)}`, 'malformed'],
    ] as const) {
      const err = refusal(() => parseWebhookUrl(url, test));
      expect([err.code, err.reason]).toEqual(['webhook_url_invalid', reason]);
      expect(err.status).toBe(400);
    }
  });

  it('needs https in live mode only', () => {
    expect(refusal(() => parseWebhookUrl('http://example.com/', live)).reason).toBe('https_required');
    expect(parseWebhookUrl('http://example.com/', test).hostname).toBe('example.com');
  });

  it('sees through odd spellings of loopback and refuses them', () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://0x7f000001/',
      'http://2130706433/',
      'http://127.1/',
      'http://0177.0.0.1/',
      'http://0x7f.0.0.1/',
      'http://%31%32%37.0.0.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::1]/',
      'http://[64:ff9b::7f00:1]/',
      'http://[2002:7f00:1::]/',
      'http://0/',
      'http://localhost/',
      'http://LOCALHOST./',
      'http://api.localhost/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://10.0.0.1/',
      'http://[fe80::1]/',
    ]) {
      const err = refusal(() => parseWebhookUrl(url, test));
      expect([url, err.code]).toEqual([url, 'webhook_url_forbidden']);
    }
  });

  it('refuses every spelling of a non-public IPv4 address and accepts every spelling of a public one', () => {
    fc.assert(
      fc.property(v4, fc.nat(3), (parts, spelling) => {
        const [a, b, c, d] = parts;
        const n = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
        const host = [
          dotted(parts),
          String(n),
          `0x${n.toString(16)}`,
          `0${a.toString(8)}.${b}.${c}.0x${d.toString(16)}`,
        ][spelling]!;
        const isPublic = classifyAddress(dotted(parts)) === 'public';
        const run = () => parseWebhookUrl(`http://${host}/`, { mode: 'test' });
        if (isPublic) expect(run().address).not.toBeNull();
        else expect(refusal(run).code).toBe('webhook_url_forbidden');
      }),
    );
  });

  it('lets test mode reach allowed hosts and CIDRs, and live mode never', () => {
    const allowedPrivate = ['127.0.0.1/32', 'receiver.localhost', 'fd00::/8'];
    expect(parseWebhookUrl('http://127.0.0.1:4000/hook', { mode: 'test', allowedPrivate }).port).toBe(4000);
    expect(parseWebhookUrl('http://0x7f000001:4000/', { mode: 'test', allowedPrivate }).hostname).toBe(
      '127.0.0.1',
    );
    expect(parseWebhookUrl('http://receiver.localhost/', { mode: 'test', allowedPrivate }).hostname).toBe(
      'receiver.localhost',
    );
    expect(parseWebhookUrl('http://[fd00::5]/', { mode: 'test', allowedPrivate }).hostname).toBe('fd00::5');
    refusal(() => parseWebhookUrl('http://127.0.0.2/', { mode: 'test', allowedPrivate }));
    refusal(() => parseWebhookUrl('https://127.0.0.1/', { mode: 'live', allowedPrivate }));
  });

  it('never puts the path, query or credentials in the error', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{6,20}$/),
        fc.stringMatching(/^[a-z0-9]{6,20}$/),
        fc.constantFrom(
          'http://127.0.0.1',
          'ftp://example.com',
          'https://u:SECRET@example.com',
          'http://10.0.0.1',
        ),
        (path, query, base) => {
          const err = refusal(() => parseWebhookUrl(`${base}/${path}?token=${query}`, { mode: 'live' }));
          const said = `${err.message} ${err.publicMessage} ${JSON.stringify(err)}`;
          expect(said).not.toContain(path);
          expect(said).not.toContain(query);
          expect(said).not.toContain('SECRET');
        },
      ),
    );
  });
});

describe('resolveWebhookTarget', () => {
  it('returns the checked address to connect to, with the host kept for Host and SNI', async () => {
    const target = await resolveWebhookTarget('https://hooks.example.com/in', {
      mode: 'live',
      lookup: answering('2606:4700:4700::1111', '1.1.1.1'),
    });
    expect(target.hostname).toBe('hooks.example.com');
    expect(target.connectAddress).toBe('2606:4700:4700::1111');
    expect(target.family).toBe(6);
    expect(target.port).toBe(443);
  });

  it('does not look up an address literal', async () => {
    const target = await resolveWebhookTarget('http://8.8.8.8/', {
      mode: 'test',
      lookup: async () => {
        throw new Error('must not be called');
      },
    });
    expect(target.connectAddress).toBe('8.8.8.8');
  });

  it('refuses when any answer is not public: a name cannot hide one private address among public ones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('1.1.1.1', '8.8.4.4', '2a00:1450:4001::200e'), { maxLength: 3 }),
        fc.constantFrom(
          '127.0.0.1',
          '10.0.0.7',
          '169.254.169.254',
          '::ffff:127.0.0.1',
          'fd00:ec2::254',
          '0.0.0.0',
          'fe80::1%eth0',
          'garbage',
        ),
        fc.nat(3),
        async (publics, bad, at) => {
          const list = [...publics];
          list.splice(at % (list.length + 1), 0, bad);
          const err = await refusalAsync(
            resolveWebhookTarget('https://rebind.example.com/', { mode: 'live', lookup: answering(...list) }),
          );
          expect(err.code).toBe('webhook_url_forbidden');
          expect(err.message).not.toContain(bad);
        },
      ),
    );
  });

  it('answers with one of the looked-up addresses when all are public', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          v4.filter((p) => classifyAddress(dotted(p)) === 'public'),
          { minLength: 1, maxLength: 4 },
        ),
        async (parts) => {
          const list = parts.map(dotted);
          const target = await resolveWebhookTarget('https://a.example.com/', {
            mode: 'live',
            lookup: answering(...list),
          });
          expect(target.connectAddress).toBe(list[0]);
        },
      ),
    );
  });

  it('looks up once: a second, different answer (DNS rebinding) never reaches the caller', async () => {
    let calls = 0;
    const lookup: WebhookLookup = async () => {
      calls++;
      return [{ address: calls === 1 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
    };
    const target = await resolveWebhookTarget('https://rebind.example.com/', { mode: 'live', lookup });
    expect(target.connectAddress).toBe('93.184.215.14');
    expect(calls).toBe(1);
  });

  it('lets an allowed host resolve to private addresses in test mode, but not to metadata', async () => {
    const options = { mode: 'test' as const, allowedPrivate: ['receiver.internal'] };
    const ok = await resolveWebhookTarget('http://receiver.internal:9000/', {
      ...options,
      lookup: answering('10.0.0.5'),
    });
    expect(ok.connectAddress).toBe('10.0.0.5');
    await refusalAsync(
      resolveWebhookTarget('http://receiver.internal/', { ...options, lookup: answering('169.254.169.254') }),
    );
    await refusalAsync(
      resolveWebhookTarget('http://other.internal/', { ...options, lookup: answering('10.0.0.5') }),
    );
    await refusalAsync(
      resolveWebhookTarget('https://receiver.internal/', {
        mode: 'live',
        allowedPrivate: ['receiver.internal'],
        lookup: answering('10.0.0.5'),
      }),
    );
  });

  it('lets an allowed CIDR pass whatever name resolves into it (test mode)', async () => {
    const target = await resolveWebhookTarget('http://anything.test/', {
      mode: 'test',
      allowedPrivate: ['127.0.0.0/8', '::1/128'],
      lookup: answering('::1', '127.0.0.1'),
    });
    expect(target.connectAddress).toBe('::1');
  });

  it('keeps cloud metadata refused inside an allowed range; only the exact address opens it', async () => {
    const metadata = [
      '169.254.169.254',
      '169.254.170.2',
      '169.254.170.23',
      '100.100.100.200',
      '::ffff:169.254.169.254',
      'fd00:ec2::254',
      'fd00:ec2::23',
    ];
    const ranges = ['169.254.0.0/16', '100.64.0.0/10', 'fd00::/8', '::ffff:0:0/96', '0.0.0.0/0', '::/0'];
    for (const address of metadata) {
      const err = await refusalAsync(
        resolveWebhookTarget('http://attacker.example/latest/meta-data/', {
          mode: 'test',
          allowedPrivate: ranges,
          lookup: answering(address),
        }),
      );
      expect(err.reason).toBe('forbidden_address');
    }
    refusal(() => parseWebhookUrl('http://169.254.169.254/', { mode: 'test', allowedPrivate: ranges }));
    refusal(() => parseWebhookUrl('http://[fd00:ec2::254]/', { mode: 'test', allowedPrivate: ranges }));
    // the rest of an allowed range still passes
    const linkLocal = await resolveWebhookTarget('http://receiver.test/', {
      mode: 'test',
      allowedPrivate: ranges,
      lookup: answering('169.254.10.1', 'fd00::5'),
    });
    expect(linkLocal.connectAddress).toBe('169.254.10.1');
    // an operator who means the metadata address names it, and nothing wider counts as that
    for (const entry of ['169.254.169.254', '169.254.169.254/32', '::ffff:169.254.169.254/128']) {
      const target = await resolveWebhookTarget('http://imds.test/', {
        mode: 'test',
        allowedPrivate: [entry],
        lookup: answering('169.254.169.254'),
      });
      expect(target.connectAddress).toBe('169.254.169.254');
    }
    const v6 = await resolveWebhookTarget('http://imds.test/', {
      mode: 'test',
      allowedPrivate: ['fd00:ec2::254/128'],
      lookup: answering('fd00:ec2::254'),
    });
    expect(v6.connectAddress).toBe('fd00:ec2::254');
    await refusalAsync(
      resolveWebhookTarget('http://imds.test/', {
        mode: 'test',
        allowedPrivate: ['169.254.169.254/31', 'fd00:ec2::254/127'],
        lookup: answering('169.254.169.254'),
      }),
    );
    await refusalAsync(
      resolveWebhookTarget('http://imds.test/', {
        mode: 'test',
        allowedPrivate: ['169.254.169.254'],
        lookup: answering('fd00:ec2::254'),
      }),
    );
  });

  it('gives up a lookup that does not answer within lookupTimeoutMs', async () => {
    vi.useFakeTimers();
    try {
      const never: WebhookLookup = () => new Promise(() => {});
      const refused = refusalAsync(
        resolveWebhookTarget('https://slow.example.com/', {
          mode: 'live',
          lookup: never,
          lookupTimeoutMs: 1_000,
        }),
      );
      await vi.advanceTimersByTimeAsync(1_000);
      const err = await refused;
      expect([err.code, err.reason, err.host]).toEqual([
        'webhook_url_invalid',
        'lookup_timeout',
        'slow.example.com',
      ]);
      // an answer in time is used, and its timer does not outlive it
      const late: WebhookLookup = () =>
        new Promise((resolve) => setTimeout(() => resolve([{ address: '1.1.1.1', family: 4 }]), 900));
      const target = resolveWebhookTarget('https://late.example.com/', {
        mode: 'live',
        lookup: late,
        lookupTimeoutMs: 1_000,
      });
      await vi.advanceTimersByTimeAsync(900);
      expect((await target).connectAddress).toBe('1.1.1.1');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('says webhook_url_invalid when the name does not resolve, naming only the host', async () => {
    const err = await refusalAsync(
      resolveWebhookTarget('https://nowhere.example.com/secret-path', {
        mode: 'live',
        lookup: async () => {
          throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
        },
      }),
    );
    expect([err.code, err.reason, err.host]).toEqual([
      'webhook_url_invalid',
      'unresolvable',
      'nowhere.example.com',
    ]);
    expect(err.message).not.toContain('secret-path');
    const empty = await refusalAsync(
      resolveWebhookTarget('https://empty.example.com/', { mode: 'live', lookup: answering() }),
    );
    expect(empty.reason).toBe('unresolvable');
  });
});
