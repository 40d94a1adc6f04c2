/** One jest run for the whole workspace: unit tests per package, plus the slower e2e project. */
const swc = [
  '@swc/jest',
  { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
];
const moduleNameMapper = {
  '^@sbir/(data|model|trainer|report)$': '<rootDir>/packages/$1/src/index.ts',
};
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': swc }, moduleNameMapper };

module.exports = {
  projects: [
    ...['data', 'model', 'trainer', 'report'].map((name) => ({
      ...base,
      displayName: name,
      rootDir: __dirname,
      testMatch: [`<rootDir>/packages/${name}/test/**/*.test.ts`],
    })),
    { ...base, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/packages/*/test/**/*.e2e.ts'] },
  ],
};
