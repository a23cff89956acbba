import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './0001-initial.js';

/** Every migration, in order. Names sort in the order they run; never rename or edit one. */
const migrations: Record<string, Migration> = {
  '0001_initial': initial,
};

/** In-code provider: the compiled package carries its migrations, no files are read at run time. */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
