/** DESIGN.md's error envelope: `{ error: { code, message, path, hint }, errors: [ … ] }`. */
export type ErrorCode =
  | 'invalid_spec'
  | 'cycle'
  | 'too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'conflict'
  | 'snapshot_gone'
  | 'unauthorized'
  | 'forbidden';

export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
  /** JSON Pointer into the request body, e.g. `/spec/tasks/2/dependsOn/0`; `''` for the whole body. */
  readonly path: string;
  readonly hint: string;
}

export interface ErrorEnvelope {
  readonly error: Problem;
  readonly errors: readonly Problem[];
}

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
