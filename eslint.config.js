import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.rein/**',
      'bin/**',
      'examples/**',
      '*.config.js',
      'eslint.config.js',
      '.dependency-cruiser.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'no-restricted-syntax': [
        'error',
        {
          // .dependency-cruiser.cjs checks the edges it can read; a computed specifier hides one.
          selector: 'ImportExpression[source.type!="Literal"]',
          message:
            'Name the module of import() literally, so the package graph (npm run lint:deps) sees the edge.',
        },
      ],
    },
  },
  {
    // Settings are read through libs/config's table (loadConfig, settingsFromEnv; processEnv for
    // the values named at run time), so every REIN_* variable has one name, parser, default and
    // README line. The exceptions configure nothing of a server: tests, the test kit, bench/ and
    // tools/ read the test kit's own REIN_TEST_* switches and hand environments to the servers
    // and CLIs they spawn.
    files: ['**/*.ts'],
    ignores: ['libs/config/src/**', '**/*.spec.ts', 'test/**', 'libs/testing/**', 'bench/**', 'tools/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message:
            'Read settings through libs/config (loadConfig / settingsFromEnv, passed in by the composition root); a value named at run time through its processEnv().',
        },
      ],
    },
  },
  {
    // Nest resolves constructor parameters from emitted decorator metadata, which a type-only
    // import erases; services keep value imports for injected classes.
    files: ['services/**/*.ts', 'libs/nest/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // libs/domain is pure: no framework, no I/O, no clock, no randomness (STYLE.md).
    files: ['libs/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '@nestjs/*',
                'node:*',
                '@nats-io/*',
                'nats',
                'ioredis',
                '@kurrent/*',
                '@eventstore/*',
                'pino',
                'better-sqlite3',
                'openai',
                '@kubernetes/*',
              ],
              message: 'libs/domain is pure: no frameworks, SDKs or Node built-ins.',
            },
            {
              group: ['fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net'],
              message: 'libs/domain is pure: no Node built-ins.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'Time arrives in the command (`now`); the domain never reads the clock.' },
        { name: 'process', message: 'No I/O in the domain.' },
        { name: 'setTimeout', message: 'Timers are TimerFired facts.' },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'Randomness is derived from ids (deterministic jitter).',
        },
        { object: 'Date', property: 'now', message: 'Time arrives in the command.' },
        { object: 'performance', property: 'now', message: 'Time arrives in the command.' },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'libs/testing/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Tests read JSON bodies of many shapes and assert on them.
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  prettier,
);
