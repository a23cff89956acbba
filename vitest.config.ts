import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources of every workspace package (the
// `gatehouse-source` export condition), so `npm test` never depends on a stale build.
export default defineConfig({
  resolve: { conditions: ['gatehouse-source'] },
  ssr: { resolve: { conditions: ['gatehouse-source'], externalConditions: ['gatehouse-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
