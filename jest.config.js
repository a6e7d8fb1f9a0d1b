// jest 30, ESM, TypeScript through @swc/jest. Run with
// NODE_OPTIONS=--experimental-vm-modules (PGlite is ESM and loads WASM).
import { availableParallelism } from 'node:os';

const transform = {
  '^.+\\.(t|j)sx?$': [
    '@swc/jest',
    {
      jsc: { target: 'es2024', parser: { syntax: 'typescript' } },
      module: { type: 'es6' },
    },
  ],
};

const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  setupFiles: ['<rootDir>/test/check-node.ts'],
};

export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/apps/*/test/**/*.test.ts', '<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/scripts/test/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.browser\\.test\\.ts$', '/node_modules/'],
    },
    {
      ...common,
      displayName: 'browser',
      testMatch: ['<rootDir>/apps/*/test/**/*.browser.test.ts'],
    },
  ],
  // A deadline for a hung test only, never the thing that decides pass or fail
  // on a loaded machine: a slow machine runs the suite slower, not redder.
  testTimeout: 300_000,
  // jest's default (one worker per core but one) gives a 2-core machine one
  // worker, and its files then run one at a time while their servers, CLIs
  // and bcrypt threads wait: two there, the default elsewhere.
  maxWorkers: Math.max(2, availableParallelism() - 1),
};
