// Jest runs in ESM mode (NestJS 12 is ESM-only) with @swc/jest; see ../shared/TOOLCHAIN.md.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      swcrc: false,
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        target: 'es2023',
        keepClassNames: true,
        transform: { legacyDecorator: true, decoratorMetadata: true },
      },
      module: { type: 'es6' },
    },
  ],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  moduleNameMapper: {
    '^@rein/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  rootDir: '.',
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};
export default {
  // Integration and end-to-end tests spawn git, bubblewrap and servers; on a loaded 2-core CI machine
  // a 1-second operation can take 6, and Jest's 5 s default then fails tests that are correct. A
  // test that needs more (or must fail faster) still sets its own timeout.
  testTimeout: 30_000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.spec.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '\\.(int|e2e|fault|browser)\\.spec\\.ts$'],
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/**/*.int.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.spec.ts'] },
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/**/*.fault.spec.ts'] },
    { ...common, displayName: 'browser', testMatch: ['<rootDir>/**/*.browser.spec.ts'] },
  ],
};
