import { type Static, Type } from '@sinclair/typebox';
import { closedObject, componentRef, enumOf } from './schema-builders.js';

/**
 * DESIGN.md's error envelope: `{ error: { code, message, path, hint }, errors: [ … ] }`, defined
 * once; its type, the validator and the OpenAPI document's `Problem` and `Error` derive from it.
 */
export const ERROR_CODES = [
  'invalid_spec',
  'cycle',
  'too_large',
  'unsupported_media_type',
  'not_found',
  'conflict',
  'snapshot_gone',
  'unauthorized',
  'forbidden',
] as const;
export const ErrorCodeSchema = enumOf(ERROR_CODES);
export type ErrorCode = Static<typeof ErrorCodeSchema>;

export const ProblemSchema = closedObject('One problem with a request.', {
  code: componentRef('ErrorCode', ErrorCodeSchema),
  message: Type.String({ description: 'What is wrong; a cycle names it: `cycle: a → b → c → a`.' }),
  path: Type.String({
    description:
      'JSON Pointer into the request (e.g. `/spec/tasks/2/dependsOn/0`); empty for the whole of it.',
  }),
  hint: Type.String({ description: 'How to fix it.' }),
});
export type Problem = Readonly<Static<typeof ProblemSchema>>;

export const ErrorEnvelopeSchema = closedObject(
  'The error envelope: the first problem, and every problem found.',
  {
    error: componentRef('Problem', ProblemSchema),
    // Readonly, as every list the API hands out; TypeBox's arrays are mutable.
    errors: Type.Unsafe<readonly Problem[]>(
      Type.Array(componentRef('Problem', ProblemSchema), { minItems: 1 }),
    ),
  },
);
export type ErrorEnvelope = Readonly<Static<typeof ErrorEnvelopeSchema>>;

export function errorEnvelope(problems: readonly Problem[]): ErrorEnvelope {
  const first = problems[0];
  if (!first) throw new Error('errorEnvelope needs at least one problem');
  return { error: first, errors: problems };
}

export function problem(code: ErrorCode, message: string, path = '', hint = ''): Problem {
  return { code, message, path, hint };
}

/** RFC 6901 JSON Pointer from path segments. */
export function pointer(...segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
