import { describe, expect, it } from '@jest/globals';
import { errorEnvelope, pointer, problem } from './errors.js';

describe('error envelope', () => {
  it('escapes JSON Pointer segments per RFC 6901', () => {
    expect(pointer('spec', 'tasks', 2, 'dependsOn', 0)).toBe('/spec/tasks/2/dependsOn/0');
    expect(pointer('a/b', 'c~d')).toBe('/a~1b/c~0d');
  });
  it('puts the first problem in `error` and all in `errors`', () => {
    const a = problem('invalid_spec', 'm1', '/x', 'h1');
    const b = problem('cycle', 'm2', '/y', 'h2');
    expect(errorEnvelope([a, b])).toEqual({ error: a, errors: [a, b] });
  });
});
