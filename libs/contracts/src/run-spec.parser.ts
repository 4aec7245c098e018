import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { validate as validateRunSpec } from './run-spec.validator.generated.js';
import { parseDocument, type ScalarTag, type Tags } from 'yaml';
import { dagFromEdges, findCycles } from '@rein/domain';
import { pointer, problem, type Problem } from './errors.js';
import {
  type AgentInput,
  DEFAULT_JUDGE_THRESHOLD,
  defaultMinSuccessful,
  type GateInput,
  MAX_PROMPT_BYTES,
  type RetryPolicyInput,
  type RunSpecInput,
} from './run-spec.schema.js';
import {
  DEFAULT_SPEC_LIMITS,
  SPEC_DEFAULTS,
  type AgentContext,
  type AgentProfile,
  type GateSpec,
  type RetryPolicy,
  type RunSpec,
  type SpecLimits,
  type TaskSpec,
  type TaskTimeouts,
} from './run-spec.types.js';
import { specHash } from './spec-hash.js';

// The number rule of queries and specs is published with the spec parser that applies it.
export * from './numbers.js';

export type SpecMediaType = 'json' | 'yaml';

export type ParseResult =
  | { readonly ok: true; readonly spec: RunSpec; readonly specHash: string }
  | { readonly ok: false; readonly problems: Problem[] };

/**
 * At most this many problems are listed; the rest are counted in a last problem. A spec within
 * the limits can still have a million bad edges, and an error envelope that large helps nobody.
 */
export const MAX_LISTED_PROBLEMS = 1000;

/**
 * At most this many levels of nesting (objects and arrays) in a spec, checked by a linear scan
 * of the text before any parser sees it: a parser that recurses (YAML's) must never be handed a
 * megabyte of `[`. A real spec nests about ten levels. YAML is counted conservatively (indentation
 * levels, `- ` / `? ` / `: ` indicators on a line, and open brackets, added up).
 */
export const MAX_SPEC_DEPTH = 64;

const JSON_TYPES = new Set(['application/json']);
const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

/**
 * The spec format of an HTTP `Content-Type`; null if unsupported. Bodies are read as UTF-8, so a
 * `charset` parameter other than `utf-8` (e.g. `latin1`, `utf-16`) is unsupported too, not ignored.
 */
export function mediaTypeOf(contentType: string | undefined): SpecMediaType | null {
  if (contentType === undefined) return null;
  const [type = '', ...params] = contentType.split(';');
  const essence = type.trim().toLowerCase();
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = param
      .slice(0, eq === -1 ? undefined : eq)
      .trim()
      .toLowerCase();
    const value =
      eq === -1
        ? ''
        : param
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1')
            .toLowerCase();
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') return null;
  }
  if (JSON_TYPES.has(essence)) return 'json';
  if (YAML_TYPES.has(essence)) return 'yaml';
  return null;
}

/**
 * The media type of a spec sent without one (a NATS request with no Content-Type header, a spec
 * on the CLI's stdin): JSON if it starts like JSON, YAML otherwise, YAML being the superset.
 */
export function sniffSpecContentType(text: string): 'application/json' | 'application/yaml' {
  return /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
}

/**
 * Parses and validates a run spec and applies DESIGN.md's defaults. On failure it lists every
 * problem found (schema and cross-references), each with a JSON Pointer and a hint.
 */
export function parseRunSpec(
  body: string | Uint8Array,
  mediaType: SpecMediaType,
  limits: SpecLimits = DEFAULT_SPEC_LIMITS,
): ParseResult {
  const text = specText(body, mediaType, limits);
  if (!text.ok) return text;
  const parsed = parseSpecText(text.text, mediaType);
  if (!parsed.ok) return fail(parsed.problems);
  return checkRunSpec(parsed.value, limits);
}

/**
 * The checks before any parser sees a spec: its size, its UTF-8, its nesting (a linear scan).
 * Cheap enough for the event loop whatever the body; what passes may still be slow to parse.
 */
export function specText(
  body: string | Uint8Array,
  mediaType: SpecMediaType,
  limits: SpecLimits = DEFAULT_SPEC_LIMITS,
): { readonly ok: true; readonly text: string } | { readonly ok: false; readonly problems: Problem[] } {
  // Size first: nothing larger than the limit is decoded or parsed.
  const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (bytes > limits.maxBytes) {
    return {
      ok: false,
      problems: [
        problem(
          'too_large',
          `the spec is ${bytes} bytes; at most ${limits.maxBytes} are allowed`,
          '',
          `shrink the spec below ${limits.maxBytes} bytes (e.g. split the run), or raise the server's spec byte limit`,
        ),
      ],
    };
  }
  const decoded = decode(body);
  if (!decoded.ok) return { ok: false, problems: [decoded.problem] };
  const deep = mediaType === 'json' ? jsonTooDeep(decoded.text) : yamlTooDeep(decoded.text);
  if (deep !== -1) {
    const { line, column } = lineColumn(decoded.text, deep);
    return {
      ok: false,
      problems: [
        problem(
          'too_large',
          `the spec nests more than ${MAX_SPEC_DEPTH} levels deep (at line ${line}, column ${column})`,
          '',
          `a run spec nests about ten levels; flatten the value at line ${line}`,
        ),
      ],
    };
  }
  return { ok: true, text: decoded.text };
}

/** JSON or YAML text (one that passed `specText`) as a value, or its syntax problems. */
export function parseSpecText(text: string, mediaType: SpecMediaType): SpecValue {
  return mediaType === 'json' ? parseJson(text) : parseYaml(text);
}

/** A parsed spec value checked against the limits, the schema and its own references, with defaults. */
export function checkRunSpec(raw: unknown, limits: SpecLimits = DEFAULT_SPEC_LIMITS): ParseResult {
  // Counting is cheap; validating a spec over the limits is the cost the limits exist to bound.
  const oversize = sizeProblems(raw, limits);
  if (oversize.length > 0) return fail(oversize);

  const problems = schemaProblems(raw);
  crossReferenceProblems(raw, problems);
  if (problems.length > 0) return fail(problems);

  // The schema admitted `raw`, so it is the shape the schema's own type describes.
  const spec = withDefaults(raw as RunSpecInput);
  return { ok: true, spec, specHash: specHash(spec) };
}

function fail(problems: Problem[]): ParseResult {
  if (problems.length <= MAX_LISTED_PROBLEMS) return { ok: false, problems };
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  const more = problems.length - MAX_LISTED_PROBLEMS;
  listed.push(
    problem(
      problems[MAX_LISTED_PROBLEMS]!.code,
      `${more} more problem${more === 1 ? '' : 's'} not listed (${problems.length} in all)`,
      '',
      `fix the ${MAX_LISTED_PROBLEMS} listed problems and submit again to see the rest`,
    ),
  );
  return { ok: false, problems: listed };
}

// ---------- bytes → text → value ----------

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode(body: string | Uint8Array): { ok: true; text: string } | { ok: false; problem: Problem } {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      return {
        ok: false,
        problem: problem('invalid_spec', 'the body is not valid UTF-8', '', 'send the spec encoded as UTF-8'),
      };
    }
  }
  // TextDecoder drops a byte-order mark, but a string body may still carry one; JSON.parse rejects it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { ok: true, text };
}

export type SpecValue = { ok: true; value: unknown } | { ok: false; problems: Problem[] };

function parseJson(text: string): SpecValue {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    // V8 does not always say where (`Unexpected token ']', "…" is not valid JSON`), so find it.
    const { line, column } = lineColumn(text, jsonErrorOffset(text));
    // Drop V8's position and its echo of the input; the line and column say where.
    const reason = (error instanceof Error ? error.message : String(error))
      .split('\n', 1)[0]!
      .replace(/, ".*" is not valid JSON$/, '')
      .replace(/ in JSON at position \d+.*$/, '')
      .slice(0, 200);
    return {
      ok: false,
      problems: [
        problem(
          'invalid_spec',
          `the body is not valid JSON at line ${line}, column ${column}: ${reason}`,
          '',
          `fix the JSON syntax at line ${line}, column ${column} (a trailing comma, a missing quote, comma or bracket?)`,
        ),
      ],
    };
  }
}

/**
 * YAML 1.2's core schema with integers in decimal only, as everywhere else in the API
 * (numbers.ts): `0x10`, `0o17`, `1e3`, `+1` and `.inf` stay strings, which the schema then
 * refuses where a number is expected.
 */
function decimalOnly(tags: Tags): Tags {
  const out: Tags = [];
  for (const t of tags) {
    if (typeof t === 'string') {
      out.push(t);
      continue;
    }
    const scalar = t as ScalarTag;
    if (scalar.tag === 'tag:yaml.org,2002:int') {
      if (scalar.format === undefined) out.push({ ...scalar, test: /^-?[0-9]+$/ });
    } else if (scalar.tag === 'tag:yaml.org,2002:float') {
      if (scalar.format === undefined && !String(scalar.test).includes('inf')) out.push(scalar);
    } else {
      out.push(t);
    }
  }
  return out;
}

function parseYaml(text: string): SpecValue {
  // yaml's default is YAML 1.2 with the core schema: `no`, `yes`, `on` stay strings.
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    customTags: decimalOnly,
    prettyErrors: true,
    uniqueKeys: true,
  });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const at = e.linePos?.[0] ?? lineColumn(text, e.pos[0]);
        const what = e.message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return problem(
          'invalid_spec',
          `the body is not valid YAML at line ${at.line}, column ${'col' in at ? at.col : at.column}: ${what}`,
          '',
          `fix the YAML syntax at line ${at.line} (indentation, an unclosed bracket or quote, a repeated key?)`,
        );
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      problems: [problem('invalid_spec', `the YAML cannot be read: ${reason}`, '', 'use fewer YAML aliases')],
    };
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Offset of the first JSON syntax error in `text` (only called once JSON.parse has failed). */
function jsonErrorOffset(text: string): number {
  const n = text.length;
  const stack: string[] = [];
  let i = 0;
  type State = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'after';
  let state: State = 'value';
  const number = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= n) return n;
    const c = text[i]!;
    if (state === 'after') {
      const top = stack[stack.length - 1];
      if (top === undefined) return i; // text after the value
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if ((top === '{' && c === '}') || (top === '[' && c === ']')) {
        stack.pop();
        i++;
      } else {
        return i;
      }
    } else if (state === 'key' || state === 'keyOrClose') {
      if (state === 'keyOrClose' && c === '}') {
        stack.pop();
        i++;
        state = 'after';
        continue;
      }
      if (c !== '"') return i;
      const end = stringEnd(text, i);
      if (end < 0) return -end - 1;
      i = end;
      while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
      if (text[i] !== ':') return i;
      i++;
      state = 'value';
    } else {
      if (state === 'valueOrClose' && c === ']') {
        stack.pop();
        i++;
        state = 'after';
      } else if (c === '{' || c === '[') {
        stack.push(c);
        i++;
        state = c === '{' ? 'keyOrClose' : 'valueOrClose';
      } else if (c === '"') {
        const end = stringEnd(text, i);
        if (end < 0) return -end - 1;
        i = end;
        state = 'after';
      } else if (c === '-' || (c >= '0' && c <= '9')) {
        number.lastIndex = i;
        if (!number.test(text)) return i;
        i = number.lastIndex;
        state = 'after';
      } else {
        const word = text.startsWith('true', i)
          ? 4
          : text.startsWith('null', i)
            ? 4
            : text.startsWith('false', i)
              ? 5
              : 0;
        if (word === 0) return i;
        i += word;
        state = 'after';
      }
    }
  }
}

/** End offset of the JSON string starting at `start`, or `-(errorOffset + 1)`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) return i + 1;
    if (code < 0x20) return -(i + 1);
    if (code === 0x5c) {
      const next = text[i + 1];
      if (next === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return -(i + 1);
        i += 5;
      } else if (next !== undefined && '"\\/bfnrt'.includes(next)) {
        i++;
      } else {
        return -(i + 1);
      }
    }
  }
  return -(text.length + 1);
}

// ---------- nesting ----------

/** Offset where JSON `text` nests deeper than MAX_SPEC_DEPTH, or -1. Linear, no recursion. */
function jsonTooDeep(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: to the next quote not escaped.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_SPEC_DEPTH) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

/**
 * Offset where YAML `text` may nest deeper than MAX_SPEC_DEPTH, or -1: an upper bound in one pass
 * over the text. Block nesting is bounded by the indentation levels open at a line plus the
 * indicators (`- `, `? `, `: `) on it; flow nesting by the brackets open (outside quotes and
 * comments; in block context a bracket counts wherever it is, so a plain scalar with 64 open
 * brackets is refused rather than risked). Block scalars (`|`, `>`) are skipped.
 */
function yamlTooDeep(text: string): number {
  const n = text.length;
  const indents: number[] = [];
  let flow = 0;
  let blockScalarParent = -1;
  let i = 0;
  while (i < n) {
    let col = 0;
    while (i < n && text[i] === ' ') {
      i++;
      col++;
    }
    let end = text.indexOf('\n', i);
    if (end === -1) end = n;
    const blank = i >= end || (text[i] === '\n' && i + 1 >= end) || text[i] === '#';
    if (blockScalarParent >= 0) {
      if (blank || col > blockScalarParent) {
        i = end + 1;
        continue;
      }
      blockScalarParent = -1;
    }
    if (blank && flow === 0) {
      i = end + 1;
      continue;
    }
    if (flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! > col) indents.pop();
      if (indents.length === 0 || indents[indents.length - 1]! < col) indents.push(col);
    }
    let inline = 0;
    let nodeStart = true;
    for (; i < end; i++) {
      const c = text[i]!;
      const next = i + 1 < end ? text[i + 1]! : ' ';
      const spaceNext = next === ' ' || next === '\t' || next === '\n';
      if (c === ' ' || c === '\t' || c === '\n') continue;
      if (c === '#' && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) break;
      if ((c === '"' || c === "'") && nodeStart) {
        // A quoted scalar may run over lines: skip to its end, then go on with that line.
        let j = i + 1;
        for (; j < n; j++) {
          if (c === '"' && text[j] === '\\') j++;
          else if (text[j] === c) break;
        }
        if (j >= n) return -1; // unterminated: the parser reports it
        if (j > end) {
          end = text.indexOf('\n', j);
          if (end === -1) end = n;
        }
        i = j;
        nodeStart = false;
        continue;
      }
      if (c === '[' || c === '{') {
        if (indents.length + inline + ++flow > MAX_SPEC_DEPTH) return i;
        nodeStart = true;
        continue;
      } else if (c === ']' || c === '}') {
        if (flow > 0) flow--;
      } else if (flow > 0 && (c === ',' || c === ':')) {
        nodeStart = true;
        continue;
      } else if (flow === 0 && (c === '-' || c === '?' || c === ':') && spaceNext) {
        inline++;
        nodeStart = true;
        if (indents.length + inline > MAX_SPEC_DEPTH) return i;
        continue;
      } else if (flow === 0 && nodeStart && (c === '|' || c === '>')) {
        blockScalarParent = col;
        break;
      } else if (flow === 0 && nodeStart && (c === '&' || c === '!')) {
        while (i + 1 < end && text[i + 1] !== ' ') i++; // an anchor or a tag: the node follows
        continue;
      }
      nodeStart = false;
      if (indents.length + inline + flow > MAX_SPEC_DEPTH) return i;
    }
    i = end + 1;
  }
  return -1;
}

// ---------- limits ----------

function sizeProblems(raw: unknown, limits: SpecLimits): Problem[] {
  const tasks = isObject(raw) && isObject(raw.spec) ? raw.spec.tasks : undefined;
  if (!Array.isArray(tasks)) return [];
  const problems: Problem[] = [];
  if (tasks.length > limits.maxTasks) {
    problems.push(
      problem(
        'too_large',
        `spec.tasks has ${tasks.length} tasks; at most ${limits.maxTasks} are allowed`,
        '/spec/tasks',
        `split the run into runs of at most ${limits.maxTasks} tasks, or raise the server's task limit`,
      ),
    );
  }
  let edges = 0;
  for (const task of tasks as unknown[]) {
    if (isObject(task) && Array.isArray(task.dependsOn)) edges += task.dependsOn.length;
  }
  if (edges > limits.maxEdges) {
    problems.push(
      problem(
        'too_large',
        `spec.tasks has ${edges} dependsOn edges; at most ${limits.maxEdges} are allowed`,
        '/spec/tasks',
        `reduce the dependsOn entries to at most ${limits.maxEdges} (e.g. split the run), or raise the server's edge limit`,
      ),
    );
  }
  return problems;
}

// ---------- schema ----------

// Compiled ahead of time from runSpecSchema with RUN_SPEC_AJV_OPTIONS (run-spec.validator.ts).
const check = validateRunSpec as unknown as ValidateFunction;

function schemaProblems(raw: unknown): Problem[] {
  if (check(raw)) return [];
  const problems: Problem[] = [];
  for (const error of check.errors ?? []) {
    const p = schemaProblem(error);
    if (p) problems.push(p);
  }
  return problems;
}

function descriptionOf(node: unknown): string | undefined {
  return isObject(node) && typeof node.description === 'string' ? node.description : undefined;
}

function schemaProblem(e: ErrorObject): Problem | null {
  const node: Readonly<Record<string, unknown>> = isObject(e.parentSchema) ? e.parentSchema : {};
  const described = descriptionOf(node);
  const properties = isObject(node.properties) ? node.properties : undefined;
  const params = e.params as Record<string, unknown>;
  const invalid = (path: string, message: string, hint: string) =>
    problem('invalid_spec', message, path, hint);

  if (e.propertyName !== undefined) {
    // A map key (label, env var, agent name) that breaks `propertyNames`.
    const path = e.instancePath + pointer(e.propertyName);
    return invalid(
      path,
      `${display(path)}: the name '${e.propertyName}' is not allowed`,
      described ?? `use a name matching ${String(params.pattern)}`,
    );
  }

  const where = display(e.instancePath);
  const value: unknown = e.data;
  switch (e.keyword) {
    case 'propertyNames':
    case 'if':
      return null; // reported by the inner keyword
    case 'required': {
      const field = String(params.missingProperty);
      const path = e.instancePath + pointer(field);
      // A conditional requirement (`then`) explains itself; otherwise describe the field.
      const fieldDescription = properties ? descriptionOf(properties[field]) : described;
      return invalid(
        path,
        `${where} is missing the required field '${field}'`,
        `add ${field}${fieldDescription ? `: ${fieldDescription}` : ''}`,
      );
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const allowed = Object.keys(properties ?? {});
      const guess = closest(field, allowed);
      return invalid(
        e.instancePath + pointer(field),
        `${where} has an unknown field '${field}'`,
        `${guess ? `did you mean '${guess}'? ` : ''}allowed fields of ${where}: ${allowed.join(', ')}`,
      );
    }
    case 'type':
      return invalid(
        e.instancePath,
        `${where} must be ${article(String(params.type))}, not ${typeName(value)}`,
        described ?? `use ${article(String(params.type))}`,
      );
    case 'const':
      return invalid(
        e.instancePath,
        `${where} must be ${quote(params.allowedValue)}, not ${quote(value)}`,
        `set ${where} to ${quote(params.allowedValue)}`,
      );
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(quote).join(', ');
      return invalid(
        e.instancePath,
        `${where} must be one of ${allowed}, not ${quote(value)}`,
        described ?? `use one of ${allowed}`,
      );
    }
    case 'pattern':
      return invalid(
        e.instancePath,
        `${where} ${quote(value)} does not match ${String(params.pattern)}`,
        described ?? `use a value matching ${String(params.pattern)}`,
      );
    case 'minLength':
      return invalid(e.instancePath, `${where} must not be empty`, described ?? 'give a non-empty string');
    case 'maxLength':
      return invalid(
        e.instancePath,
        `${where} is longer than ${String(params.limit)} characters`,
        described ?? `shorten it to ${String(params.limit)} characters`,
      );
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return invalid(
        e.instancePath,
        `${where} must be ${String(params.comparison)} ${String(params.limit)}, not ${quote(value)}`,
        described ?? `use a number ${String(params.comparison)} ${String(params.limit)}`,
      );
    case 'minItems':
      return invalid(
        e.instancePath,
        `${where} must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`,
        described ?? 'add items',
      );
    case 'minProperties':
    case 'maxProperties': {
      const keys = Object.keys(properties ?? {});
      const exactlyOne = node.minProperties === 1 && node.maxProperties === 1;
      const message = exactlyOne
        ? `${where} must have exactly one of ${keys.join(', ')}`
        : `${where} must have ${e.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(params.limit)} entr${params.limit === 1 ? 'y' : 'ies'}`;
      const hint =
        exactlyOne && e.keyword === 'maxProperties'
          ? `write each gate as its own list item; ${described ?? ''}`.trim()
          : (described ?? 'change the number of entries');
      return invalid(e.instancePath, message, hint);
    }
    default:
      return invalid(
        e.instancePath,
        `${where} ${e.message ?? 'is invalid'}`,
        described ?? 'see the run spec schema',
      );
  }
}

/** `/spec/tasks/2/dependsOn/0` → `spec.tasks[2].dependsOn[0]`; `''` → `the spec`. */
function display(path: string): string {
  if (path === '') return 'the spec';
  let out = '';
  for (const raw of path.slice(1).split('/')) {
    const s = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^(0|[1-9][0-9]*)$/.test(s)) out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'boolean') return `${String(value)}`;
  return article(typeof value);
}

function article(type: string): string {
  const names = type
    .split(',')
    .map((t) => (t === 'null' ? 'null' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`));
  return names.join(' or ');
}

function quote(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

// ---------- cross-references: ids, dependsOn, agents, cycles ----------

/**
 * Checks what one schema cannot: unique ids, dependsOn targets, agent references, regexes,
 * cycles. Works on the raw value even when the schema failed, skipping what is malformed, so
 * one response lists these problems alongside the schema's.
 */
function crossReferenceProblems(raw: unknown, problems: Problem[]): void {
  if (!isObject(raw) || !isObject(raw.spec)) return;
  const spec = raw.spec;
  const agents = isObject(spec.agents) ? spec.agents : undefined;
  const agentNames = agents ? Object.keys(agents) : [];
  const defaults = isObject(spec.defaults) ? spec.defaults : undefined;
  const defaultAgent = typeof defaults?.agent === 'string' ? defaults.agent : undefined;
  if (agents && defaultAgent !== undefined && !Object.hasOwn(agents, defaultAgent)) {
    problems.push(unknownAgent('/spec/defaults/agent', defaultAgent, agentNames));
  }
  if (agents) for (const name of agentNames) guidanceProblems(name, agents[name], problems);
  if (!Array.isArray(spec.tasks)) return;
  const tasks = spec.tasks as unknown[];
  const n = tasks.length;

  // Tasks with a usable string id become graph nodes; a repeated id is reported and left out.
  const indexOf = new Map<string, number>();
  const taskOfNode: number[] = [];
  const ids: string[] = [];
  for (let t = 0; t < n; t++) {
    const task = tasks[t];
    if (!isObject(task) || typeof task.id !== 'string') continue;
    if (task.id === '.' || task.id === '..') {
      // They match the id pattern, but a task id names its workspace directory.
      problems.push(
        problem(
          'invalid_spec',
          `spec.tasks[${t}].id '${task.id}' is not allowed: a task id names a directory`,
          pointer('spec', 'tasks', t, 'id'),
          "use a name with a letter or digit, e.g. 'build'",
        ),
      );
      continue;
    }
    const first = indexOf.get(task.id);
    if (first !== undefined) {
      problems.push(
        problem(
          'invalid_spec',
          `spec.tasks[${t}].id '${task.id}' repeats the id of spec.tasks[${taskOfNode[first]}]`,
          pointer('spec', 'tasks', t, 'id'),
          'task ids must be unique in the run; rename one of them',
        ),
      );
      continue;
    }
    indexOf.set(task.id, ids.length);
    taskOfNode.push(t);
    ids.push(task.id);
  }

  let listed = 0;
  for (const task of tasks)
    if (isObject(task) && Array.isArray(task.dependsOn)) listed += task.dependsOn.length;
  const depOffsets = new Int32Array(ids.length + 1);
  const deps = new Int32Array(listed);
  let edges = 0;
  // seenBy[d] === node + 1 when this node already listed d: a repeated dependsOn entry.
  const seenBy = new Int32Array(ids.length);
  // "Did you mean" compares against every id: worth it for a few typos in a small run only.
  let suggestions = ids.length <= 1000 ? 100 : 0;
  let node = 0;
  for (let t = 0; t < n; t++) {
    const task = tasks[t];
    if (!isObject(task)) continue;
    const isNode = typeof task.id === 'string' && taskOfNode[node] === t;
    if (isNode) depOffsets[node] = edges;
    if (Array.isArray(task.dependsOn)) {
      const list = task.dependsOn as unknown[];
      for (let j = 0; j < list.length; j++) {
        const dep = list[j];
        if (typeof dep !== 'string') continue;
        const d = indexOf.get(dep);
        if (d === undefined) {
          const guess = suggestions-- > 0 ? closest(dep, ids) : undefined;
          problems.push(
            problem(
              'invalid_spec',
              `spec.tasks[${t}].dependsOn[${j}]: '${dep}' is not a task of this run`,
              pointer('spec', 'tasks', t, 'dependsOn', j),
              `${guess ? `did you mean '${guess}'? ` : ''}dependsOn lists ids of tasks in spec.tasks`,
            ),
          );
        } else if (isNode && seenBy[d] === node + 1) {
          problems.push(
            problem(
              'invalid_spec',
              `spec.tasks[${t}].dependsOn[${j}]: '${dep}' is listed twice`,
              pointer('spec', 'tasks', t, 'dependsOn', j),
              'list each dependency once',
            ),
          );
        } else if (isNode) {
          seenBy[d] = node + 1;
          deps[edges++] = d;
          // Share the id's own string: later lookups of it (buildDag on the spec) are then
          // pointer-equal hits, and the million duplicate strings JSON.parse made can be freed.
          list[j] = ids[d];
        }
      }
    }
    if (agents) agentProblems(task, t, agents, agentNames, defaultAgent, problems);
    // The schema bounds a prompt in characters; its UTF-8 can be up to three times that.
    if (typeof task.prompt === 'string' && task.prompt.length * 3 > MAX_PROMPT_BYTES) {
      const bytes = Buffer.byteLength(task.prompt, 'utf8');
      if (bytes > MAX_PROMPT_BYTES && task.prompt.length <= MAX_PROMPT_BYTES) {
        problems.push(
          problem(
            'invalid_spec',
            `spec.tasks[${t}].prompt is ${bytes} bytes of UTF-8; at most ${MAX_PROMPT_BYTES} (256 KiB) are allowed`,
            pointer('spec', 'tasks', t, 'prompt'),
            'shorten the prompt, or let the agent read long material from the workspace',
          ),
        );
      }
    }
    if (Array.isArray(task.gates)) {
      patternProblems(task.gates as unknown[], t, problems);
      juryProblems(task.gates as unknown[], t, problems);
    }
    if (isNode) node++;
  }
  depOffsets[ids.length] = edges;

  const dag = dagFromEdges(ids, indexOf, depOffsets, deps);
  for (const cycle of findCycles(dag)) {
    const from = taskOfNode[indexOf.get(cycle[0]!)!]!;
    const list = (tasks[from] as { dependsOn: unknown[] }).dependsOn;
    const entry = list.indexOf(cycle[1]);
    const self = cycle.length === 2;
    problems.push(
      problem(
        'cycle',
        `cycle: ${cycle.join(' → ')}`,
        pointer('spec', 'tasks', from, 'dependsOn', entry),
        self
          ? `task '${cycle[0]}' depends on itself; remove it from its own dependsOn`
          : `remove one dependsOn entry on this cycle (each arrow reads "depends on")`,
      ),
    );
  }
}

function agentProblems(
  task: Readonly<Record<string, unknown>>,
  t: number,
  agents: Readonly<Record<string, unknown>>,
  agentNames: readonly string[],
  defaultAgent: string | undefined,
  problems: Problem[],
): void {
  if (typeof task.agent === 'string') {
    if (!Object.hasOwn(agents, task.agent)) {
      problems.push(unknownAgent(pointer('spec', 'tasks', t, 'agent'), task.agent, agentNames));
    }
  } else if (task.agent === undefined && defaultAgent === undefined) {
    problems.push(
      problem(
        'invalid_spec',
        `spec.tasks[${t}] has no agent and spec.defaults.agent is not set`,
        pointer('spec', 'tasks', t),
        `set agent on the task or spec.defaults.agent to one of: ${list(agentNames)}`,
      ),
    );
  }
}

/**
 * A guidance path names a file inside the workspace: relative, no `..`, no empty or `.` segment
 * (so one file has one spelling), `/` as the separator. The executor also refuses a path whose
 * symlinks lead out of the workspace; that can only be seen in the workspace itself.
 */
function guidanceProblems(name: string, agent: unknown, problems: Problem[]): void {
  const context = isObject(agent) ? agent.context : undefined;
  const paths = isObject(context) && Array.isArray(context.guidance) ? (context.guidance as unknown[]) : [];
  const seen = new Map<string, number>();
  paths.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') return; // the schema reports it
    const path = pointer('spec', 'agents', name, 'context', 'guidance', i);
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    const control = /[\u0000-\u001f\u007f]/.test(p);
    // A name with a newline is shown escaped, so the message stays on one line.
    const shown = control ? JSON.stringify(p) : quote(p);
    const refuse = (why: string, hint: string) =>
      problems.push(problem('invalid_spec', `${display(path)} ${shown} ${why}`, path, hint));
    const segments = p.split('/');
    if (control) {
      refuse('contains a control character', 'give the file name as plain text, e.g. AGENTS.md');
    } else if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) {
      refuse(
        'is absolute: guidance is read from the workspace only',
        `give the path relative to the workspace root, e.g. ${quote(p.replace(/^([A-Za-z]:)?[\\/]+/, '') || 'AGENTS.md')}`,
      );
    } else if (p.includes('\\')) {
      refuse('contains a backslash', `separate directories with '/', e.g. ${quote(p.replace(/\\/g, '/'))}`);
    } else if (segments.includes('..')) {
      refuse("goes up with '..': guidance is read from inside the workspace only", 'remove the .. segments');
    } else if (segments.some((s) => s === '' || s === '.')) {
      refuse(
        "has an empty or '.' segment",
        `write it without './', '//' or a trailing '/', e.g. ${quote(segments.filter((s) => s !== '' && s !== '.').join('/') || 'AGENTS.md')}`,
      );
    } else if (seen.has(p)) {
      refuse(`repeats spec.agents.${name}.context.guidance[${seen.get(p)!}]`, 'list each guidance file once');
    } else {
      seen.set(p, i);
    }
  });
}

function unknownAgent(path: string, name: string, agentNames: readonly string[]): Problem {
  const guess = closest(name, agentNames);
  return problem(
    'invalid_spec',
    `${display(path)}: '${name}' is not an agent profile of spec.agents`,
    path,
    `${guess ? `did you mean '${guess}'? ` : ''}use one of: ${list(agentNames)}, or define '${name}' in spec.agents`,
  );
}

function patternProblems(gates: readonly unknown[], t: number, problems: Problem[]): void {
  for (let g = 0; g < gates.length; g++) {
    const gate = gates[g];
    const patterns = isObject(gate) && isObject(gate.policy) ? gate.policy.forbiddenPatterns : undefined;
    if (!Array.isArray(patterns)) continue;
    (patterns as unknown[]).forEach((p, i) => {
      if (typeof p !== 'string') return;
      try {
        new RegExp(p);
      } catch (error) {
        const path = pointer('spec', 'tasks', t, 'gates', g, 'policy', 'forbiddenPatterns', i);
        problems.push(
          problem(
            'invalid_spec',
            `${display(path)} is not a valid regular expression: ${error instanceof Error ? error.message : String(error)}`,
            path,
            'use a JavaScript regular expression (escape special characters such as ( [ { with \\)',
          ),
        );
      }
    });
  }
}

/**
 * A jury's fields must agree: `aggregate` and `minSuccessful` need `judges`, a jury names its
 * models per juror (not the gate's `provider`/`model`), and at most every juror can succeed.
 */
function juryProblems(gates: readonly unknown[], t: number, problems: Problem[]): void {
  for (let g = 0; g < gates.length; g++) {
    const gate = gates[g];
    const judge = isObject(gate) && isObject(gate.judge) ? gate.judge : undefined;
    if (!judge) continue;
    const at = (field: string) => pointer('spec', 'tasks', t, 'gates', g, 'judge', field);
    const judges = Array.isArray(judge.judges) ? (judge.judges as unknown[]) : undefined;
    if (!judges) {
      for (const field of ['aggregate', 'minSuccessful'] as const) {
        if (judge[field] === undefined) continue;
        problems.push(
          problem(
            'invalid_spec',
            `${display(at(field))} applies only to a jury, and this judge gate has no judges`,
            at(field),
            `add judges: [ { provider, model }, … ] or remove ${field}`,
          ),
        );
      }
      continue;
    }
    for (const field of ['provider', 'model'] as const) {
      if (judge[field] === undefined) continue;
      problems.push(
        problem(
          'invalid_spec',
          `${display(at(field))} cannot be combined with judges: a jury names its ${field} per juror`,
          at(field),
          `move ${field} into each entry of judges, or remove judges for a single judge`,
        ),
      );
    }
    const min = judge.minSuccessful;
    if (typeof min === 'number' && judges.length > 0 && min > judges.length) {
      problems.push(
        problem(
          'invalid_spec',
          `${display(at('minSuccessful'))} is ${min}, but the jury has only ${judges.length} judge${judges.length === 1 ? '' : 's'}`,
          at('minSuccessful'),
          `set minSuccessful to at most ${judges.length}, or add judges`,
        ),
      );
    }
  }
}

function list(names: readonly string[]): string {
  if (names.length === 0) return '(none defined)';
  return names.length <= 20 ? names.join(', ') : `${names.slice(0, 20).join(', ')}, …`;
}

/** The candidate within a small edit distance of `word`, or starting with it, for "did you mean". */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const near = nearest(word, candidates);
  if (near !== undefined || word.length < 3) return near;
  const prefix = word.toLowerCase();
  return candidates.find((c) => c.toLowerCase().startsWith(prefix));
}

function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > bestDistance) continue;
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------- defaults ----------

const NO_STRINGS: readonly string[] = Object.freeze([]);

// Every object below is built with its keys in sorted order, so that `specHash` can hand the
// result to JSON.stringify as canonical JSON (see spec-hash.ts); a slip only costs speed.

function withDefaults(input: RunSpecInput): RunSpec {
  const { metadata, spec } = input;
  const defaults = spec.defaults ?? {};
  const runRetries = mergeRetries(undefined, defaults.retries);
  // Tasks without their own retries or timeouts share one object: 100,000 copies buy nothing.
  const defaultTimeouts: TaskTimeouts = { startToCloseMs: SPEC_DEFAULTS.startToCloseMs };
  const tasks = spec.tasks.map((task): TaskSpec => ({
    agent: task.agent ?? defaults.agent!, // crossReferenceProblems rejected tasks with neither
    dependsOn: task.dependsOn ?? NO_STRINGS,
    gates: task.gates ? task.gates.map(gateWithDefaults) : NO_GATES,
    id: task.id,
    priority: task.priority ?? 0,
    prompt: task.prompt,
    requires: task.requires ?? NO_STRINGS,
    retries: task.retries ? mergeRetries(task.retries, defaults.retries) : runRetries,
    timeouts: task.timeouts
      ? {
          ...(task.timeouts.scheduleToStartMs !== undefined && {
            scheduleToStartMs: task.timeouts.scheduleToStartMs,
          }),
          startToCloseMs: task.timeouts.startToCloseMs ?? SPEC_DEFAULTS.startToCloseMs,
        }
      : defaultTimeouts,
  }));

  const agents = Object.fromEntries(
    Object.keys(spec.agents)
      .sort()
      .map((name) => [name, agentWithDefaults(spec.agents[name]!)] as const),
  );

  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: {
      ...(metadata.idempotencyKey !== undefined && { idempotencyKey: metadata.idempotencyKey }),
      labels: sortedRecord(metadata.labels),
      name: metadata.name,
    },
    spec: {
      agents,
      ...(spec.budget && {
        budget: {
          ...(spec.budget.tokens !== undefined && { tokens: spec.budget.tokens }),
          ...(spec.budget.usd !== undefined && { usd: spec.budget.usd }),
        },
      }),
      concurrency: spec.concurrency ?? null,
      defaults: {
        ...(defaults.agent !== undefined && { agent: defaults.agent }),
        ...(defaults.retries && { retries: copyRetryInput(defaults.retries) }),
      },
      failFast: spec.failFast ?? true,
      tasks,
      ...(spec.workspace && {
        workspace: {
          ...(spec.workspace.ref !== undefined && { ref: spec.workspace.ref }),
          repo: spec.workspace.repo,
        },
      }),
    },
  };
}

const NO_GATES: readonly GateSpec[] = Object.freeze([]);

/** Object.fromEntries defines own properties, so a key such as `__proto__` stays a key. */
function sortedRecord<T>(record: Readonly<Record<string, T>> | undefined): Record<string, T> {
  if (!record) return {};
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, record[key]!] as const),
  );
}

/** Field by field: the task's setting, else the run's `defaults.retries`, else DESIGN.md's. */
function mergeRetries(task: RetryPolicyInput | undefined, run: RetryPolicyInput | undefined): RetryPolicy {
  const given = { ...run?.backoff, ...task?.backoff };
  const fallback = SPEC_DEFAULTS.retries.backoff;
  return {
    backoff: {
      factor: given.factor ?? fallback.factor,
      initialMs: given.initialMs ?? fallback.initialMs,
      maxMs: given.maxMs ?? fallback.maxMs,
    },
    max: task?.max ?? run?.max ?? SPEC_DEFAULTS.retries.max,
  };
}

function copyRetryInput(retries: RetryPolicyInput): RetryPolicyInput {
  const backoff = retries.backoff;
  return {
    ...(backoff && {
      backoff: {
        ...(backoff.factor !== undefined && { factor: backoff.factor }),
        ...(backoff.initialMs !== undefined && { initialMs: backoff.initialMs }),
        ...(backoff.maxMs !== undefined && { maxMs: backoff.maxMs }),
      },
    }),
    ...(retries.max !== undefined && { max: retries.max }),
  };
}

function gateWithDefaults(gate: GateInput): GateSpec {
  if ('test' in gate) {
    return {
      test: { run: gate.test.run, timeoutMs: gate.test.timeoutMs ?? SPEC_DEFAULTS.testGateTimeoutMs },
    };
  }
  if ('judge' in gate) {
    const { aggregate, judges, minSuccessful, model, provider, rubric, threshold } = gate.judge;
    return {
      judge: {
        rubric,
        threshold: threshold ?? DEFAULT_JUDGE_THRESHOLD,
        ...(provider !== undefined && { provider }),
        ...(model !== undefined && { model }),
        ...(judges && {
          judges: judges.map((j) => ({
            ...(j.provider !== undefined && { provider: j.provider }),
            ...(j.model !== undefined && { model: j.model }),
          })),
          aggregate: aggregate ?? 'majority',
          minSuccessful: minSuccessful ?? defaultMinSuccessful(judges.length),
        }),
      },
    };
  }
  if ('approval' in gate) return { approval: {} };
  const { allowPaths, denyPaths, forbiddenPatterns, maxCheckedLines, maxDiffLines } = gate.policy;
  return {
    policy: {
      ...(allowPaths && { allowPaths: [...allowPaths] }),
      ...(denyPaths && { denyPaths: [...denyPaths] }),
      ...(forbiddenPatterns && { forbiddenPatterns: [...forbiddenPatterns] }),
      ...(maxDiffLines !== undefined && { maxDiffLines }),
      ...(maxCheckedLines !== undefined && { maxCheckedLines }),
    },
  };
}

function agentWithDefaults(agent: AgentInput): AgentProfile {
  const hooks = agent.hooks ?? {};
  const limits = agent.limits ?? {};
  const fallback = SPEC_DEFAULTS.limits;
  return {
    ...(agent.allowedTools && { allowedTools: [...agent.allowedTools] }),
    ...(agent.command !== undefined && { command: agent.command }),
    context: contextWithDefaults(agent.context),
    env: sortedRecord(agent.env),
    hooks: {
      ...(hooks.afterCreate !== undefined && { afterCreate: hooks.afterCreate }),
      ...(hooks.afterRun !== undefined && { afterRun: hooks.afterRun }),
      ...(hooks.beforeRemove !== undefined && { beforeRemove: hooks.beforeRemove }),
      ...(hooks.beforeRun !== undefined && { beforeRun: hooks.beforeRun }),
      timeoutMs: hooks.timeoutMs ?? SPEC_DEFAULTS.hookTimeoutMs,
    },
    limits: {
      cpuSeconds: limits.cpuSeconds ?? fallback.cpuSeconds,
      fileSizeMb: limits.fileSizeMb ?? fallback.fileSizeMb,
      memoryMb: limits.memoryMb ?? fallback.memoryMb,
      pids: limits.pids ?? fallback.pids,
    },
    ...(agent.model !== undefined && { model: agent.model }),
    network: { allow: agent.network?.allow ? [...agent.network.allow] : [] },
    ...(agent.permissionMode !== undefined && { permissionMode: agent.permissionMode }),
    runtime: agent.runtime,
    secrets: agent.secrets ? [...agent.secrets] : [],
    ...(agent.stallMs !== undefined && { stallMs: agent.stallMs }),
  };
}

/** `false` / `{ enabled: false }` turn guidance off; `true`, absent or an object fill the rest in. */
function contextWithDefaults(context: AgentInput['context']): AgentContext {
  const given = typeof context === 'object' ? context : { enabled: context ?? true };
  const fallback = SPEC_DEFAULTS.context;
  return {
    enabled: given.enabled ?? fallback.enabled,
    guidance: given.guidance ? [...given.guidance] : fallback.guidance,
    maxBytes: given.maxBytes ?? fallback.maxBytes,
  };
}
