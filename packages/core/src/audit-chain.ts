import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** The hash before the first event: 64 zero hex digits. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an audit event that the chain covers (everything but `hash`). */
export interface ChainedAuditEvent {
  id: string;
  seq: number;
  createdAt: number;
  accountId: string | null;
  actorType: string;
  actorId: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  data: Record<string, unknown>;
  ip: string | null;
  requestId: string | null;
  prevHash: string;
}

/**
 * hash = SHA-256(prev_hash ‖ canonical event), hex. The event's fields are picked by name:
 * a stored row also carries its own `hash` (and a driver may add columns), and hashing those
 * too would make every stored row fail verification.
 */
export function auditHash(prevHash: string, event: ChainedAuditEvent): string {
  const chained: ChainedAuditEvent = {
    id: event.id,
    seq: event.seq,
    createdAt: event.createdAt,
    accountId: event.accountId,
    actorType: event.actorType,
    actorId: event.actorId,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    data: event.data,
    ip: event.ip,
    requestId: event.requestId,
    prevHash,
  };
  return createHash('sha256').update(prevHash).update(canonicalJson(chained)).digest('hex');
}

export interface AuditChainProblem {
  seq: number;
  problem: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch';
}

/**
 * Walks rows in seq order and reports the first break: an edited row (its hash no longer
 * matches), a deleted or reordered row (a seq gap or a prev_hash that is not the previous hash),
 * or a truncated tail (the last row is not the recorded head).
 */
export class AuditChainVerifier {
  private expectedSeq = 1;
  private prev = GENESIS_HASH;
  checked = 0;
  problem: AuditChainProblem | null = null;

  push(row: ChainedAuditEvent & { hash: string }): boolean {
    if (this.problem) return false;
    if (row.seq !== this.expectedSeq) {
      this.problem = { seq: this.expectedSeq, problem: 'seq_gap' };
    } else if (row.prevHash !== this.prev) {
      this.problem = { seq: row.seq, problem: 'prev_hash_mismatch' };
    } else if (auditHash(row.prevHash, row) !== row.hash) {
      this.problem = { seq: row.seq, problem: 'hash_mismatch' };
    }
    if (this.problem) return false;
    this.checked++;
    this.expectedSeq++;
    this.prev = row.hash;
    return true;
  }

  /** Compares the end of the walk with the recorded head (catches a deleted tail). */
  finish(head: { seq: number; hash: string }): AuditChainProblem | null {
    if (!this.problem && (head.seq !== this.expectedSeq - 1 || head.hash !== this.prev)) {
      this.problem = { seq: Math.min(head.seq, this.expectedSeq), problem: 'head_mismatch' };
    }
    return this.problem;
  }
}
