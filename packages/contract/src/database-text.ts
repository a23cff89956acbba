import { z } from 'zod';

/**
 * A string from a request that is stored in, or looked up in, the database. PostgreSQL cannot
 * hold U+0000 (NUL) in a text value and fails the whole statement, while SQLite keeps it; both
 * stores are spared it by refusing it here, as `parameter_invalid` naming the field.
 */
export function databaseText() {
  return z.string().refine((s) => !s.includes('\u0000'), 'must not contain the NUL character (U+0000)');
}
