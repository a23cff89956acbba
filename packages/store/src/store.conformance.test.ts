import { beforeAll, describe } from 'vitest';
import { storeConformance } from './test-kit/store-conformance.js';
import {
  postgresSuiteGate,
  postgresTestDatabases,
  postgresTestUrl,
  sqliteTestDatabases,
  type TestDatabases,
} from './test-kit/test-databases.js';

// One suite, every dialect. PostgreSQL is skipped (with a warning) when unreachable, except
// under CI=true where that is a failure.
const postgres = await postgresSuiteGate('store conformance (postgres)');

const dialects: {
  name: string;
  databases: () => TestDatabases;
  skip: boolean;
  failure: Error | undefined;
}[] = [
  { name: 'sqlite', databases: sqliteTestDatabases, skip: false, failure: undefined },
  { name: 'postgres', databases: () => postgresTestDatabases(postgresTestUrl), ...postgres },
];

for (const dialect of dialects) {
  describe.skipIf(dialect.skip)(`store conformance: ${dialect.name}`, () => {
    beforeAll(() => {
      if (dialect.failure) throw dialect.failure;
    });
    storeConformance(dialect.databases());
  });
}
