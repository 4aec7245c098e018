import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { RunSpec } from './run-spec.types.js';
import { canonicalJson, sha256Hex, specHash } from './spec-hash.js';

/** Rebuilds `value` with every object's keys inserted in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversed(v)]),
  );
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('sorts by code unit, including keys V8 keeps in numeric order', () => {
    // Object.keys gives ['2', '10', 'B', 'a']; canonical order is '10' < '2' < 'B' < 'a'.
    expect(canonicalJson({ a: 1, B: 2, 10: 3, 2: 4 })).toBe('{"10":3,"2":4,"B":2,"a":1}');
  });

  it('writes values as JSON.stringify does', () => {
    const text = 'quote " backslash \\ newline \n tab \t nul \u0000 é 😀 lone \ud800';
    expect(canonicalJson({ s: text })).toBe(`{"s":${JSON.stringify(text)}}`);
    expect(canonicalJson({ z: 1, u: undefined, f: () => 1, n: Number.NaN })).toBe('{"n":null,"z":1}');
    expect(canonicalJson([undefined, Infinity, -0, 1e21, true])).toBe('[null,null,0,1e+21,true]');
    expect(canonicalJson('x')).toBe('"x"');
    expect(() => canonicalJson({ b: 1, a: 10n })).toThrow(TypeError);
  });

  it('is the same for any key order and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reversed(value))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe('sha256Hex', () => {
  it('hashes the UTF-8 bytes', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('specHash', () => {
  const spec: RunSpec = {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'n', labels: { b: '2', a: '1' } },
    spec: {
      concurrency: null,
      failFast: true,
      defaults: { agent: 'coder' },
      agents: {
        coder: {
          runtime: 'noop',
          env: {},
          secrets: [],
          network: { allow: [] },
          limits: { cpuSeconds: 1, memoryMb: 1, pids: 1, fileSizeMb: 1 },
          hooks: { timeoutMs: 1 },
        },
      },
      tasks: [
        {
          id: 't',
          prompt: 'p',
          agent: 'coder',
          dependsOn: [],
          priority: 0,
          retries: { max: 2, backoff: { initialMs: 1, factor: 2, maxMs: 3 } },
          timeouts: { startToCloseMs: 1 },
          gates: [],
          requires: [],
        },
      ],
    },
  };

  it('is sha256 of the canonical JSON, whatever order the keys were built in', () => {
    expect(specHash(spec)).toBe(sha256Hex(canonicalJson(spec)));
    expect(specHash(reversed(spec) as RunSpec)).toBe(specHash(spec));
  });

  it('changes when any value changes', () => {
    const other = { ...spec, metadata: { ...spec.metadata, labels: { a: '1', b: '3' } } };
    expect(specHash(other)).not.toBe(specHash(spec));
  });
});
