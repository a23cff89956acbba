/**
 * A write broke a constraint: `unique` (a duplicate id or key hash) or `foreign_key` (for
 * example a key for an account that does not exist). The same class on every dialect, so
 * callers need not know the driver's error shapes; the driver's error is the `cause`.
 */
export class StoreConstraintError extends Error {
  override readonly name = 'StoreConstraintError';
  readonly code = 'store_constraint';

  constructor(
    readonly kind: 'unique' | 'foreign_key',
    options: { cause: unknown },
  ) {
    super(kind === 'unique' ? 'unique constraint violated' : 'foreign key constraint violated', options);
  }
}

// SQLite (better-sqlite3) and PostgreSQL (SQLSTATE) codes for the two kinds.
const KIND_BY_CODE: Record<string, StoreConstraintError['kind']> = {
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign_key',
  '23505': 'unique',
  '23503': 'foreign_key',
};

/** Runs a write and turns a driver's constraint error into a StoreConstraintError. */
export async function translatingConstraintErrors<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const kind = typeof code === 'string' ? KIND_BY_CODE[code] : undefined;
    if (kind) throw new StoreConstraintError(kind, { cause: error });
    throw error;
  }
}
