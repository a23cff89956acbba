import { BlockList } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileAllowlist,
  formatIp,
  type IpAddress,
  ipMatchesAny,
  normalizeCidr,
  parseCidr,
  parseIp,
} from './cidr.js';

const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes): IpAddress => ({ family: 4, bytes }));
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes): IpAddress => ({ family: 6, bytes }));
/** IPv6 addresses with long zero runs too, so `::` compression is exercised. */
const v6Sparse = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((groups): IpAddress => {
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 0xff;
    });
    return { family: 6, bytes };
  });

/** An address inside network/prefix: the network's first `prefix` bits, then `host`'s. */
function inside(network: Uint8Array, host: Uint8Array, prefix: number): Uint8Array {
  return network.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    const mask = (0xff00 >> keep) & 0xff;
    return (b & mask) | (host[i]! & ~mask & 0xff);
  });
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[bit >> 3] = out[bit >> 3]! ^ (0x80 >> (bit & 7));
  return out;
}

/** An IPv6 address written out in full, no compression, upper case. */
function longForm(ip: IpAddress): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((ip.bytes[i]! << 8) | ip.bytes[i + 1]!).toString(16).padStart(4, '0'));
  return groups.join(':').toUpperCase();
}

describe('parseIp', () => {
  it.each([
    ['0.0.0.0', [0, 0, 0, 0]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['192.0.2.1', [192, 0, 2, 1]],
    ['10.0.0.10', [10, 0, 0, 10]],
  ])('reads IPv4 %s', (text, bytes) => {
    expect(parseIp(text)).toEqual({ family: 4, bytes: Uint8Array.from(bytes) });
  });

  it.each([
    ['::', '0000:0000:0000:0000:0000:0000:0000:0000'],
    ['::1', '0000:0000:0000:0000:0000:0000:0000:0001'],
    ['1::', '0001:0000:0000:0000:0000:0000:0000:0000'],
    ['2001:db8::ff00:42:8329', '2001:0DB8:0000:0000:0000:FF00:0042:8329'],
    ['2001:0DB8:0000:0000:0000:FF00:0042:8329', '2001:0DB8:0000:0000:0000:FF00:0042:8329'],
    ['1:2:3:4:5:6:7::', '0001:0002:0003:0004:0005:0006:0007:0000'],
    ['::2:3:4:5:6:7:8', '0000:0002:0003:0004:0005:0006:0007:0008'],
    ['::ffff:192.0.2.1', '0000:0000:0000:0000:0000:FFFF:C000:0201'],
    ['64:ff9b::192.0.2.33', '0064:FF9B:0000:0000:0000:0000:C000:0221'],
    ['1:2:3:4:5:6:1.2.3.4', '0001:0002:0003:0004:0005:0006:0102:0304'],
  ])('reads IPv6 %s', (text, long) => {
    const ip = parseIp(text);
    expect(ip?.family).toBe(6);
    expect(longForm(ip!)).toBe(long);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '127.1',
    '010.1.1.1',
    '1.2.3.04',
    '00.0.0.0',
    '0x7f.0.0.1',
    '256.0.0.1',
    '1.2.3.-4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    '1.2.3.4.',
    '４.２.３.４',
    '[::1]',
    'fe80::1%eth0',
    ':::',
    '1:::2',
    '::1::',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::',
    '::1.2.3',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '::010.1.1.1',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::ffff:1.2.3.4/8',
    'localhost',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  it('reads back what formatIp writes', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6, v6Sparse), (ip) => {
        expect(parseIp(formatIp(ip))).toEqual(ip);
        if (ip.family === 6) expect(parseIp(longForm(ip))).toEqual(ip);
      }),
    );
  });

  it('never throws and refuses what node:net refuses', async () => {
    const { isIP } = await import('node:net');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-fA-F:.]{0,45}$/)), (text) => {
        const ip = parseIp(text);
        // We are stricter than Node (no zone ids), never looser.
        if (ip !== null) expect(isIP(text)).toBe(ip.family);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatIp', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['ABCD:EF01::', 'abcd:ef01::'],
    ['0:0:0:0:0:ffff:c000:201', '::ffff:192.0.2.1'],
  ])('writes %s as %s (RFC 5952)', (text, canonical) => {
    expect(formatIp(parseIp(text)!)).toBe(canonical);
  });
});

describe('parseCidr and normalizeCidr', () => {
  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['10.1.2.3', '10.1.2.3/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.168.1.255/31', '192.168.1.254/31'],
    ['2001:DB8:0:0:8:800:200C:417A/64', '2001:db8::/64'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['fe80::1/10', 'fe80::/10'],
    ['::ffff:10.9.8.7/104', '::ffff:10.0.0.0/104'],
  ])('normalizes %s to %s', (text, canonical) => {
    expect(normalizeCidr(text)).toBe(canonical);
  });

  it.each([
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '10.0.0.0/ 8',
    '::/129',
    '::/0128',
    '[::1]/128',
    '10.0.0.0/a',
    `10.0.0.0/${'1'.repeat(70)}`,
  ])('refuses %j', (text) => {
    expect(parseCidr(text)).toBeNull();
    expect(normalizeCidr(text)).toBeNull();
  });

  it('is idempotent and keeps the network', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6, v6Sparse), fc.nat(128), (ip, p) => {
        const prefix = p % ((ip.family === 4 ? 32 : 128) + 1);
        const text = normalizeCidr(`${formatIp(ip)}/${prefix}`)!;
        expect(normalizeCidr(text)).toBe(text);
        expect(ipMatchesAny(formatIp(ip), [text])).toBe(true);
        expect(parseCidr(text)?.prefix).toBe(prefix);
      }),
    );
  });
});

describe('ipMatchesAny', () => {
  it('matches an address built inside a random prefix, and not one with a bit of the prefix flipped', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.tuple(v4, v4), fc.tuple(v6, v6)),
        fc.nat(128),
        fc.nat(127),
        ([net, host], p, b) => {
          const bits = net.family === 4 ? 32 : 128;
          const prefix = p % (bits + 1);
          const cidr = `${formatIp(net)}/${prefix}`;
          const member = { family: net.family, bytes: inside(net.bytes, host.bytes, prefix) };
          expect(ipMatchesAny(formatIp(member), [cidr])).toBe(true);
          if (prefix > 0) {
            const outsider = { family: net.family, bytes: flipBit(member.bytes, b % prefix) };
            expect(ipMatchesAny(formatIp(outsider), [cidr])).toBe(false);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('treats IPv4-mapped IPv6 and IPv4 as the same address, both ways', () => {
    fc.assert(
      fc.property(v4, v4, fc.nat(32), (net, host, prefix) => {
        const member = inside(net.bytes, host.bytes, prefix);
        const dotted = formatIp({ family: 4, bytes: member });
        const hex = `::ffff:${((member[0]! << 8) | member[1]!).toString(16)}:${((member[2]! << 8) | member[3]!).toString(16)}`;
        const v4Range = `${formatIp(net)}/${prefix}`;
        const mappedRange = `::ffff:${formatIp(net)}/${96 + prefix}`;
        for (const ip of [dotted, `::ffff:${dotted}`, hex, `0:0:0:0:0:FFFF:${dotted}`]) {
          expect(ipMatchesAny(ip, [v4Range])).toBe(true);
          expect(ipMatchesAny(ip, [mappedRange])).toBe(true);
        }
        if (prefix > 0) {
          const outsider = formatIp({ family: 4, bytes: flipBit(member, prefix - 1) });
          expect(ipMatchesAny(`::ffff:${outsider}`, [v4Range])).toBe(false);
          expect(ipMatchesAny(outsider, [mappedRange])).toBe(false);
        }
      }),
    );
  });

  it('agrees with node:net BlockList on addresses near the range', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.tuple(v4, v4), fc.tuple(v6, v6)),
        fc.nat(128),
        fc.nat(128),
        ([net, host], p, q) => {
          const bits = net.family === 4 ? 32 : 128;
          const prefix = p % (bits + 1);
          // Share a random number of leading bits with the network, so both answers occur.
          const candidate = { family: net.family, bytes: inside(net.bytes, host.bytes, q % (bits + 1)) };
          const type = net.family === 4 ? 'ipv4' : 'ipv6';
          const list = new BlockList();
          list.addSubnet(formatIp(parseCidr(`${formatIp(net)}/${prefix}`)!), prefix, type);
          // BlockList has its own view of mapped addresses; compare outside that space.
          fc.pre(!(net.family === 6 && formatIp(candidate).includes('.')));
          expect(ipMatchesAny(formatIp(candidate), [`${formatIp(net)}/${prefix}`])).toBe(
            list.check(formatIp(candidate), type),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('matches any of several ranges and skips invalid ones', () => {
    const ranges = ['nonsense', '203.0.113.0/24', '2001:db8::/32', '10.0.0.0/8'];
    expect(ipMatchesAny('203.0.113.77', ranges)).toBe(true);
    expect(ipMatchesAny('10.255.0.1', ranges)).toBe(true);
    expect(ipMatchesAny('2001:db8:1::5', ranges)).toBe(true);
    expect(ipMatchesAny('203.0.114.1', ranges)).toBe(false);
    expect(ipMatchesAny('2001:db9::1', ranges)).toBe(false);
    expect(ipMatchesAny('::ffff:203.0.113.5', ranges)).toBe(true);
    expect(ipMatchesAny('1.2.3.4', ['nonsense'])).toBe(false);
  });

  it('is false for an invalid ip, whatever the ranges', () => {
    for (const ip of ['', 'nonsense', '010.0.0.1', '10.0.0.1/8', '[::1]', 'fe80::1%eth0', '127.1']) {
      expect(ipMatchesAny(ip, ['0.0.0.0/0', '::/0'])).toBe(false);
    }
  });

  it('keeps IPv4 and native IPv6 apart: 0.0.0.0/0 is not every IPv6 address', () => {
    expect(ipMatchesAny('2001:db8::1', ['0.0.0.0/0'])).toBe(false);
    expect(ipMatchesAny('::1', ['0.0.0.0/0'])).toBe(false);
    expect(ipMatchesAny('127.0.0.1', ['::1/128'])).toBe(false);
    expect(ipMatchesAny('127.0.0.1', ['::ffff:127.0.0.1/128'])).toBe(true);
  });
});

describe('compileAllowlist', () => {
  it('answers like ipMatchesAny', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(v4, v6Sparse), fc.nat(128)), { maxLength: 5 }),
        fc.oneof(v4, v6Sparse),
        (ranges, ip) => {
          const cidrs = ranges.map(
            ([net, p]) => `${formatIp(net)}/${p % ((net.family === 4 ? 32 : 128) + 1)}`,
          );
          const allows = compileAllowlist(cidrs);
          expect(allows(formatIp(ip))).toBe(ipMatchesAny(formatIp(ip), cidrs));
        },
      ),
    );
  });

  it('matches nothing when empty', () => {
    const allows = compileAllowlist([]);
    expect(allows('127.0.0.1')).toBe(false);
    expect(allows('::1')).toBe(false);
  });

  it('is fast enough for the request path', () => {
    const allows = compileAllowlist(['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32', '203.0.113.7']);
    const started = performance.now();
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (allows(i & 1 ? '203.0.113.7' : '2001:db8::dead:beef')) hits++;
    expect(hits).toBe(100_000);
    // About 100 ns per check on a laptop; a generous bound for a shared machine.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
