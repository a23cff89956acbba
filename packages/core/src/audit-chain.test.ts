import { describe, expect, it } from 'vitest';
import { AuditChainVerifier, auditHash, type ChainedAuditEvent, GENESIS_HASH } from './audit-chain.js';

type Row = ChainedAuditEvent & { hash: string };

/** A chain of `n` events as the store would write it: seq from 1, each linked to the last. */
function buildChain(n: number): Row[] {
  const rows: Row[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const event: ChainedAuditEvent = {
      id: `aud_${String(seq).padStart(26, '0')}`,
      seq,
      createdAt: 1_700_000_000_000 + seq * 1000,
      accountId: seq % 3 === 0 ? null : 'acct_1',
      actorType: 'key',
      actorId: `key_${seq % 4}`,
      action: seq % 2 ? 'key.created' : 'key.revoked',
      targetType: 'key',
      targetId: `key_${seq}`,
      data: { n: seq, nested: { reason: 'requested', list: [seq, 'x'] } },
      ip: seq % 5 === 0 ? null : '203.0.113.7',
      requestId: `req_${seq}`,
      prevHash,
    };
    const hash = auditHash(prevHash, event);
    rows.push({ ...event, hash });
    prevHash = hash;
  }
  return rows;
}

/** Runs the verifier over `rows` and compares with `head`, as `GET /v1/audit_events/verify` does. */
function verify(rows: Row[], head: { seq: number; hash: string }) {
  const verifier = new AuditChainVerifier();
  for (const row of rows) if (!verifier.push(row)) break;
  return { problem: verifier.finish(head), checked: verifier.checked };
}

const headOf = (rows: Row[]) => ({ seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash });

describe('auditHash', () => {
  it('is SHA-256 hex, and changes with the previous hash and with any field', () => {
    const [row] = buildChain(1);
    const { hash: _hash, ...event } = row!;
    const hash = auditHash(GENESIS_HASH, event);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash('f'.repeat(64), event)).not.toBe(hash);
    expect(auditHash(GENESIS_HASH, { ...event, data: { ...event.data, n: 2 } })).not.toBe(hash);
    expect(auditHash(GENESIS_HASH, { ...event, ip: null })).not.toBe(hash);
  });

  it('does not depend on the order the columns come back in', () => {
    const [row] = buildChain(1);
    const { hash, ...event } = row!;
    const reordered = Object.fromEntries(Object.entries(event).reverse()) as unknown as ChainedAuditEvent;
    expect(auditHash(GENESIS_HASH, reordered)).toBe(hash);
  });

  it("hashes only the chained fields: a row's own hash or extra columns do not count", () => {
    const [row] = buildChain(1);
    const { hash, ...event } = row!;
    expect(auditHash(GENESIS_HASH, row!)).toBe(hash);
    const withColumn = { ...event, driverExtra: 1 } as ChainedAuditEvent;
    expect(auditHash(GENESIS_HASH, withColumn)).toBe(hash);
  });
});

describe('AuditChainVerifier', () => {
  it('accepts an intact chain of 20 events', () => {
    const rows = buildChain(20);
    expect(verify(rows, headOf(rows))).toEqual({ problem: null, checked: 20 });
  });

  it('accepts an empty chain whose head is the genesis', () => {
    expect(verify([], { seq: 0, hash: GENESIS_HASH })).toEqual({ problem: null, checked: 0 });
  });

  it('catches an edited field as a hash mismatch at that row', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    rows[6] = { ...rows[6]!, data: { ...rows[6]!.data, n: 999 } };
    expect(verify(rows, head).problem).toEqual({ seq: 7, problem: 'hash_mismatch' });

    const again = buildChain(20);
    again[11] = { ...again[11]!, actorId: 'key_attacker' };
    expect(verify(again, headOf(again)).problem).toEqual({ seq: 12, problem: 'hash_mismatch' });
  });

  it('catches an edit whose row hash was recomputed, at the next row', () => {
    const rows = buildChain(20);
    const edited = { ...rows[6]!, action: 'key.updated' };
    rows[6] = { ...edited, hash: auditHash(edited.prevHash, edited) };
    expect(verify(rows, headOf(buildChain(20))).problem).toEqual({ seq: 8, problem: 'prev_hash_mismatch' });
  });

  it('catches a deleted middle row as a seq gap', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    rows.splice(9, 1);
    expect(verify(rows, head)).toEqual({ problem: { seq: 10, problem: 'seq_gap' }, checked: 9 });
  });

  it('catches a deleted row whose successors were renumbered, by the broken link', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    rows.splice(9, 1);
    const renumbered = rows.map((row, i) => ({ ...row, seq: i + 1 }));
    // Row 11 now sits at seq 10, linked to the deleted row's hash.
    expect(verify(renumbered, head).problem).toEqual({ seq: 10, problem: 'prev_hash_mismatch' });
  });

  it('catches two swapped rows', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    // Read back in the swapped order: seq 6 arrives where seq 5 should.
    const swapped = [...rows];
    [swapped[4], swapped[5]] = [swapped[5]!, swapped[4]!];
    expect(verify(swapped, head).problem).toEqual({ seq: 5, problem: 'seq_gap' });
    // Swapped and renumbered so the seqs look right: the links give it away.
    const renumbered = swapped.map((row, i) => ({ ...row, seq: i + 1 }));
    expect(verify(renumbered, head).problem).toEqual({ seq: 5, problem: 'prev_hash_mismatch' });
  });

  it('catches a dropped tail against the recorded head', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    expect(verify(rows.slice(0, 17), head)).toEqual({
      problem: { seq: 18, problem: 'head_mismatch' },
      checked: 17,
    });
    expect(verify([], head).problem).toEqual({ seq: 1, problem: 'head_mismatch' });
  });

  it('catches a whole chain rewritten from an edit on, against the recorded head', () => {
    const rows = buildChain(20);
    const head = headOf(rows);
    // Rewrite from seq 3 on with valid hashes: every row checks, but the head does not.
    let prevHash = rows[1]!.hash;
    const forged = rows.map((row, i) => {
      if (i < 2) return row;
      const event = { ...row, prevHash, actorId: i === 2 ? 'key_attacker' : row.actorId };
      const hash = auditHash(prevHash, event);
      prevHash = hash;
      return { ...event, hash };
    });
    expect(verify(forged, head)).toEqual({ problem: { seq: 20, problem: 'head_mismatch' }, checked: 20 });
  });

  it('stops at the first problem and refuses further rows', () => {
    const rows = buildChain(5);
    const verifier = new AuditChainVerifier();
    expect(verifier.push(rows[0]!)).toBe(true);
    expect(verifier.push(rows[2]!)).toBe(false);
    expect(verifier.push(rows[1]!)).toBe(false);
    expect(verifier.checked).toBe(1);
    expect(verifier.problem).toEqual({ seq: 2, problem: 'seq_gap' });
  });
});
