import { Ajv2020 } from 'ajv/dist/2020.js';
// A CommonJS module: its function is the `default` of what Node's ESM loader gives.
import standalone from 'ajv/dist/standalone/index.js';
import { runSpecSchema } from './run-spec.schema.js';

/**
 * The run spec's validator is compiled from `runSpecSchema` ahead of time, into
 * run-spec.validator.generated.ts (`npm run gen:validator`), so parsing a spec compiles nothing
 * and no module holds a lazily built validator. run-spec.validator.spec.ts fails when the
 * generated file is not what the schema gives.
 *
 * verbose: each error carries the schema object it failed (`parentSchema`), whose description
 * and properties become the hint. strictRequired is off because it rejects
 * `then: { required: ['command'] }`, whose property is declared beside the `if`. Union types: an
 * agent's `context` is an object or a boolean in one `type` list, for one clear problem.
 */
export const RUN_SPEC_AJV_OPTIONS = {
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
} as const;

const HEADER = `// @ts-nocheck
/* eslint-disable */
// Generated from runSpecSchema by \`npm run gen:validator\` (libs/contracts/src/run-spec.validator.ts). Do not edit.
`;

/** The generated module's text: Ajv's standalone ESM code, its one runtime helper imported. */
export function runSpecValidatorSource(): string {
  const ajv = new Ajv2020({ ...RUN_SPEC_AJV_OPTIONS, code: { source: true, esm: true } });
  const code = standalone.default(ajv, ajv.compile(runSpecSchema));
  const helper = 'require("ajv/dist/runtime/ucs2length").default';
  if (!code.includes(helper) || /require\(/.test(code.replace(helper, ''))) {
    throw new Error('Ajv standalone code needs other runtime helpers than ucs2length: import them here');
  }
  return `${HEADER}import ucs2length from 'ajv/dist/runtime/ucs2length.js';\n${code.replace(helper, 'ucs2length.default')}\n`;
}
