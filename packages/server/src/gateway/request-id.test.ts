import { idTime } from '@gatehouse/core';
import { describe, expect, it } from 'vitest';
import { newRequestId } from './request-id.js';

describe('request ids', () => {
  it('are req_ ULIDs carrying the time, all distinct', () => {
    const now = Date.UTC(2026, 0, 15, 12, 0, 0);
    const ids = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = newRequestId(now + (i % 7));
      expect(id).toMatch(/^req_[0-9A-HJKMNP-TV-Z]{26}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(5000);
    expect(idTime(newRequestId(now))).toBe(now);
  });
});
