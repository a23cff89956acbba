import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hmacSha256 } from './hmac.js';

interface MacTest {
  tcId: number;
  comment: string;
  key: string;
  msg: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface MacTestFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: { keySize: number; tagSize: number; tests: MacTest[] }[];
}

// The repository's parent folder holds `shared/` beside the checkout.
const VECTORS = fileURLToPath(
  new URL('../../../../shared/vectors/wycheproof/hmac_sha256_test.json', import.meta.url),
);
const present = existsSync(VECTORS);

describe('hmacSha256', () => {
  it('matches RFC 4231 test case 2', () => {
    expect(hmacSha256(Buffer.from('Jefe'), 'what do ya want for nothing?').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('hashes a string as UTF-8', () => {
    const key = Buffer.alloc(32, 9);
    expect(hmacSha256(key, 'é')).toEqual(hmacSha256(key, Buffer.from('é', 'utf8')));
  });

  it('finds the Wycheproof vectors (required in CI)', () => {
    if (!present && process.env.CI === 'true') throw new Error(`missing test vectors: ${VECTORS}`);
    if (!present) console.warn(`skipping Wycheproof HMAC-SHA256: ${VECTORS} not found`);
  });

  describe.skipIf(!present)('Wycheproof HMAC-SHA256', () => {
    const file: MacTestFile = present ? JSON.parse(readFileSync(VECTORS, 'utf8')) : { testGroups: [] };
    const cases = file.testGroups.flatMap((group) =>
      group.tests.map((test) => ({ ...test, tagSize: group.tagSize, keySize: group.keySize })),
    );

    it('has the cases it should', () => {
      expect(file.algorithm).toBe('HMACSHA256');
      expect(cases).toHaveLength(file.numberOfTests);
      expect(cases.some((c) => c.result === 'invalid')).toBe(true);
    });

    it.each(cases)('tcId $tcId ($comment, $tagSize-bit tag): $result', (test) => {
      const computed = hmacSha256(Buffer.from(test.key, 'hex'), Buffer.from(test.msg, 'hex'));
      // Truncated tags: compare the first tagSize/8 bytes, and the length too.
      const truncated = computed.subarray(0, test.tagSize / 8);
      const tag = Buffer.from(test.tag, 'hex');
      const matches = tag.length === truncated.length && tag.equals(truncated);
      if (test.result === 'valid') expect(matches).toBe(true);
      if (test.result === 'invalid') expect(matches).toBe(false);
    });
  });
});
