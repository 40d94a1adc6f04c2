/** One jest run for the whole workspace: unit tests per package, plus the slower e2e project. */
const swc = [
  '@swc/jest',
  { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
];
const moduleNameMapper = {
  '^@sbir/(core|data|model|trainer|report)$': '<rootDir>/packages/$1/src/index.ts',
};
// testTimeout: the default 5 s is too tight for tests that prepare a tiny dataset when the 2-core machine
// is busy; a hung test still fails (the tests that train set their own, longer limits).
const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper,
};

module.exports = {
  testTimeout: 30_000,
  projects: [
    ...['core', 'data', 'model', 'trainer', 'report'].map((name) => ({
      ...base,
      displayName: name,
      rootDir: __dirname,
      testMatch: [`<rootDir>/packages/${name}/test/**/*.test.ts`],
    })),
    { ...base, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/packages/*/test/**/*.e2e.ts'] },
  ],
};
