import { Type, type Static } from '@sinclair/typebox';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { type Problem, parseRunSpec, pointer, problem } from '@rein/contracts';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { renderIssueTemplate, sampleIssue } from './issue-template.js';

/**
 * The intake file (`--intake FILE` / REIN_INTAKE): which trackers to watch, what makes an issue
 * eligible, and the run to start for it. One schema is the source of the shape; every problem
 * is reported at once with its JSON Pointer, as a run spec's are.
 */
const SECRET_NAME = '^[A-Z_][A-Z0-9_]{0,127}$';
const secretName = (what: string) =>
  Type.String({
    pattern: SECRET_NAME,
    description: `${what}: the name of an environment variable the server holds, e.g. GITHUB_TOKEN`,
  });
const names = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64, uniqueItems: true, description });

const SelectionSchema = Type.Object(
  {
    repository: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$', description: 'GitHub: owner/name' }),
    ),
    team: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Linear: the team key, e.g. ENG' }),
    ),
    project: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Linear: the project name' }),
    ),
    labels: Type.Optional(names('an issue must carry every one of these labels')),
    states: Type.Optional(
      names('active states: GitHub `open`; Linear workflow state names, e.g. Todo, In Progress'),
    ),
  },
  { additionalProperties: false, description: 'which issues are eligible' },
);

const TrackerSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{0,31}$',
      description: 'used in the webhook path, e.g. gh',
    }),
    kind: Type.Union([Type.Literal('github'), Type.Literal('linear')], { description: 'github or linear' }),
    apiUrl: Type.Optional(
      Type.String({
        pattern: '^https?://',
        description: 'the API base (GitHub REST base URL; Linear GraphQL endpoint)',
      }),
    ),
    tokenSecret: secretName('the API token'),
    webhookSecret: Type.Optional(secretName('the webhook signing secret')),
    select: SelectionSchema,
    terminalStates: Type.Optional(names('states that end an issue (Linear), e.g. Done, Canceled')),
    pollIntervalMs: Type.Optional(
      Type.Integer({ minimum: 1000, maximum: 86_400_000, description: 'default 30000' }),
    ),
    concurrency: Type.Optional(
      Type.Object(
        {
          max: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000, description: 'runs at once for this tracker' }),
          ),
          perState: Type.Optional(
            Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 1000 }), {
              description: 'runs at once per active state',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    writeBack: Type.Optional(
      Type.Object(
        {
          comment: Type.Optional(Type.Boolean({ description: 'one status comment per issue, default true' })),
          labels: Type.Optional(
            Type.Boolean({ description: 'the rein:* label state machine, default true' }),
          ),
          closeOnSuccess: Type.Optional(
            Type.Boolean({ description: 'close the issue when its run succeeds, default false' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    run: Type.Object(
      {},
      { additionalProperties: true, description: 'a run spec whose strings are Liquid over issue.*' },
    ),
  },
  { additionalProperties: false },
);

export const IntakeFileSchema = Type.Object(
  {
    apiVersion: Type.Literal('rein/v1'),
    kind: Type.Literal('Intake'),
    trackers: Type.Array(TrackerSchema, { minItems: 1, maxItems: 32 }),
  },
  { additionalProperties: false },
);
type IntakeFile = Static<typeof IntakeFileSchema>;

export const DEFAULT_POLL_INTERVAL_MS = 30_000;

export interface TrackerConfig {
  readonly name: string;
  readonly kind: 'github' | 'linear';
  readonly apiUrl?: string;
  /** Resolved from the server's environment; never logged, never in a problem. */
  readonly token: string;
  readonly webhookSecret?: string;
  readonly select: {
    readonly repository?: string;
    readonly team?: string;
    readonly project?: string;
    readonly labels: readonly string[];
    readonly states: readonly string[];
  };
  readonly terminalStates: readonly string[];
  readonly pollIntervalMs: number;
  readonly concurrency: { readonly max?: number; readonly perState: Readonly<Record<string, number>> };
  readonly writeBack: {
    readonly comment: boolean;
    readonly labels: boolean;
    readonly closeOnSuccess: boolean;
  };
  /** The run spec template, as written. */
  readonly run: Readonly<Record<string, unknown>>;
}

export interface IntakeConfig {
  readonly trackers: readonly TrackerConfig[];
}

export type IntakeResult = { ok: true; config: IntakeConfig } | { ok: false; problems: Problem[] };

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateFile = ajv.compile<IntakeFile>(IntakeFileSchema);

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and checks an intake file's text; secrets are looked up in `env` by name. */
export async function parseIntakeConfig(text: string, env: Env): Promise<IntakeResult> {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) =>
        problem('invalid_spec', `not valid YAML: ${e.message}`, '', 'fix the YAML syntax'),
      ),
    };
  }
  const raw: unknown = doc.toJS();
  if (!validateFile(raw)) return { ok: false, problems: (validateFile.errors ?? []).map(schemaProblem) };
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const trackers: TrackerConfig[] = [];
  for (const [i, t] of raw.trackers.entries()) {
    const at = (...p: (string | number)[]) => pointer('trackers', i, ...p);
    if (seen.has(t.name))
      problems.push(
        problem(
          'invalid_spec',
          `tracker name ${t.name} is used twice`,
          at('name'),
          'give each tracker its own name',
        ),
      );
    seen.add(t.name);
    if (t.kind === 'github' && t.select.repository === undefined) {
      problems.push(
        problem(
          'invalid_spec',
          'a github tracker needs select.repository',
          at('select', 'repository'),
          'add repository: owner/name',
        ),
      );
    }
    if (t.kind === 'linear' && t.select.team === undefined && t.select.project === undefined) {
      problems.push(
        problem(
          'invalid_spec',
          'a linear tracker needs select.team or select.project',
          at('select'),
          'add team: <team key> or project: <name>',
        ),
      );
    }
    if (t.kind === 'github' && t.select.states?.some((s) => s !== 'open')) {
      problems.push(
        problem(
          'invalid_spec',
          'GitHub issues are only eligible while open',
          at('select', 'states'),
          'use states: [open] or leave states out',
        ),
      );
    }
    const secret = (name: string | undefined, field: string): string | undefined => {
      if (name === undefined) return undefined;
      const value = env[name];
      if (value === undefined || value === '') {
        problems.push(
          problem(
            'invalid_spec',
            `secret ${name} is not set on the server`,
            at(field),
            `set ${name} in the server's environment`,
          ),
        );
      }
      return value;
    };
    const token = secret(t.tokenSecret, 'tokenSecret');
    const webhookSecret = secret(t.webhookSecret, 'webhookSecret');
    // The template must give a valid spec for an issue like any the tracker will send.
    const rendered = await renderIssueTemplate(t.run, sampleIssue(t.name), 'sample');
    if (!rendered.ok) {
      problems.push(...rendered.problems.map((p) => ({ ...p, path: at('run') + p.path })));
    } else {
      const checked = parseRunSpec(JSON.stringify(rendered.spec), 'json');
      if (!checked.ok) problems.push(...checked.problems.map((p) => ({ ...p, path: at('run') + p.path })));
    }
    const states = t.select.states ?? (t.kind === 'github' ? ['open'] : []);
    trackers.push({
      name: t.name,
      kind: t.kind,
      ...(t.apiUrl === undefined ? {} : { apiUrl: t.apiUrl }),
      token: token ?? '',
      ...(webhookSecret === undefined ? {} : { webhookSecret }),
      select: {
        ...(t.select.repository === undefined ? {} : { repository: t.select.repository }),
        ...(t.select.team === undefined ? {} : { team: t.select.team }),
        ...(t.select.project === undefined ? {} : { project: t.select.project }),
        labels: t.select.labels ?? [],
        states,
      },
      terminalStates: t.terminalStates ?? [],
      pollIntervalMs: t.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      concurrency: {
        ...(t.concurrency?.max === undefined ? {} : { max: t.concurrency.max }),
        perState: t.concurrency?.perState ?? {},
      },
      writeBack: {
        comment: t.writeBack?.comment ?? true,
        labels: t.writeBack?.labels ?? true,
        closeOnSuccess: t.writeBack?.closeOnSuccess ?? false,
      },
      run: t.run,
    });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: { trackers } };
}

/** Reads the file at `path`; an unreadable file is a problem like any other. */
export async function loadIntakeConfig(path: string, env: Env): Promise<IntakeResult> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return {
      ok: false,
      problems: [
        problem(
          'invalid_spec',
          `cannot read the intake file ${path}: ${(e as Error).message}`,
          '',
          'pass --intake the path of a readable YAML file',
        ),
      ],
    };
  }
  return parseIntakeConfig(text, env);
}

function schemaProblem(e: ErrorObject): Problem {
  const params = e.params as Record<string, unknown>;
  const described = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'required':
      return problem(
        'invalid_spec',
        `${e.instancePath || '/'} is missing the required field ${String(params.missingProperty)}`,
        e.instancePath + pointer(String(params.missingProperty)),
        `add ${String(params.missingProperty)}`,
      );
    case 'additionalProperties':
      return problem(
        'invalid_spec',
        `${e.instancePath || '/'} has an unknown field ${String(params.additionalProperty)}`,
        e.instancePath + pointer(String(params.additionalProperty)),
        'remove it or fix its spelling',
      );
    default:
      return problem(
        'invalid_spec',
        `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
        e.instancePath,
        described ?? 'see docs/intake.md for the intake file',
      );
  }
}
