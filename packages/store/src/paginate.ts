import type { Page, PageQuery } from './types.js';

/** The side of the cursor to fetch: `<` older (newest first), `>` newer (oldest first, then reversed). */
export interface PageBound<C> {
  op: '<' | '>';
  value: C;
}

/**
 * Cursor pagination, newest first. `startingAfter` pages towards older items, `endingBefore`
 * towards newer ones (fetched ascending, then reversed). One extra row tells `hasMore`: more
 * items exist beyond this page in the direction of travel.
 *
 * `resolveCursor` turns a cursor id into the value the query compares with (the id itself,
 * or an audit row's seq); when it returns undefined the cursor names nothing and the page
 * is empty.
 */
export async function paginate<T, C>(
  page: PageQuery,
  resolveCursor: (id: string) => Promise<C | undefined>,
  fetch: (bound: PageBound<C> | undefined, order: 'asc' | 'desc', limit: number) => Promise<T[]>,
): Promise<Page<T>> {
  const { limit, startingAfter, endingBefore } = page;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  if (startingAfter !== undefined && endingBefore !== undefined) {
    throw new TypeError('startingAfter and endingBefore cannot be used together');
  }
  const cursor = endingBefore ?? startingAfter;
  let bound: PageBound<C> | undefined;
  if (cursor !== undefined) {
    const value = await resolveCursor(cursor);
    if (value === undefined) return { data: [], hasMore: false };
    bound = { op: endingBefore !== undefined ? '>' : '<', value };
  }
  const ascending = bound?.op === '>';
  const rows = await fetch(bound, ascending ? 'asc' : 'desc', limit + 1);
  const data = rows.slice(0, limit);
  return { data: ascending ? data.reverse() : data, hasMore: rows.length > limit };
}
