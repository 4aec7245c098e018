import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSpecValidatorSource } from './run-spec.validator.js';

const GENERATED = fileURLToPath(new URL('./run-spec.validator.generated.ts', import.meta.url));

describe('the generated run spec validator', () => {
  it('is what runSpecSchema gives (run `npm run gen:validator` after changing the schema)', () => {
    expect(readFileSync(GENERATED, 'utf8') === runSpecValidatorSource()).toBe(true);
  });
});
