import { type Static, Type } from '@sinclair/typebox';
import { PoolSchema, type RunEvent } from './events.js';
import { TranscriptEventSchema } from './messages.js';
import { RunSummarySchema } from './run-view.js';
import { closedObject, componentRef, enumOf, nullable, readonlyList } from './schema-builders.js';

/**
 * The answers of the read calls and health checks that are not a run view — the pages of runs,
 * events and transcript entries, the pools, readiness and liveness — defined once: the
 * projections, the executor and the health controller build these types, the CLI reads them, and
 * the OpenAPI document publishes these schemas.
 */

export const RunListSchema = closedObject('A page of runs, newest first.', {
  runs: readonlyList(componentRef('RunSummary', RunSummarySchema), ''),
  next: nullable('string', 'Cursor of the next page; null on the last page.'),
});
export type RunList = Readonly<Static<typeof RunListSchema>>;

export const EventPageSchema = closedObject('Events of a run.', {
  // Typed as the union of the event variants that the published `Event` ties together.
  events: readonlyList(Type.Unsafe<RunEvent>({ $ref: '#/components/schemas/Event' }), 'In seq order.'),
});
export type EventPage = Readonly<Static<typeof EventPageSchema>>;

export const TranscriptPageSchema = closedObject('Transcript entries of an attempt.', {
  events: readonlyList(componentRef('TranscriptEvent', TranscriptEventSchema), 'In seq order.'),
});
export type TranscriptPage = Readonly<Static<typeof TranscriptPageSchema>>;

export const PoolListSchema = closedObject('The executor pools.', {
  pools: readonlyList(componentRef('Pool', PoolSchema), ''),
});
export type PoolList = Readonly<Static<typeof PoolListSchema>>;

/**
 * What enforces an agent limit on this host, as found at start: a cgroup controller
 * (`cgroup-v1`, `cgroup-v2`), a per-process or per-uid rlimit (`rlimit`), or nothing (`none`).
 */
export const LIMIT_MECHANISMS = ['cgroup-v1', 'cgroup-v2', 'rlimit', 'none'] as const;
const mechanism = (description: string) =>
  Type.Unsafe<LimitMechanism>({ enum: LIMIT_MECHANISMS, description });
export type LimitMechanism = (typeof LIMIT_MECHANISMS)[number];

export const LimitEnforcementSchema = closedObject(
  'What enforces each agent limit on this host, found at start (cgroup layouts differ between hosts): `cgroup-v1`, `cgroup-v2`, `rlimit` or `none`; all `none` in a process without an executor.',
  {
    pids: mechanism('`limits.pids`: a pids cgroup, else RLIMIT_NPROC of the attempt uid.'),
    memory: mechanism('`limits.memoryMb`: a memory cgroup, else RLIMIT_AS.'),
    cpu: mechanism('`limits.cpuSeconds`: RLIMIT_CPU per process.'),
    fileSize: mechanism('`limits.fileSizeMb`: RLIMIT_FSIZE.'),
    cpuShare: mechanism('A CPU quota per attempt (all CPUs but one), so one agent cannot starve the others.'),
    uids: enumOf(
      ['per-attempt', 'shared'] as const,
      '`per-attempt`: each running attempt has a uid of its own (needs a root executor).',
    ),
  },
);
export type LimitEnforcement = Readonly<Static<typeof LimitEnforcementSchema>>;

export const SANDBOX_KINDS = ['bubblewrap', 'kubernetes', 'none'] as const;
export type SandboxKind = (typeof SANDBOX_KINDS)[number];

export const ReadinessSchema = closedObject(
  'What the server runs on. 200 once the store and transport answer; 503 with `reason` otherwise.',
  {
    status: enumOf(['ready', 'unavailable'] as const),
    sandbox: enumOf(SANDBOX_KINDS, '`none` only when started with --unsafe-no-sandbox.'),
    store: Type.String({ description: 'The event store, e.g. `sqlite (synchronous=FULL)`.' }),
    transport: Type.String({ description: '`in-process` or `nats`.' }),
    // Inline rather than a component of its own: the document has always published it in place.
    limits: LimitEnforcementSchema,
    reason: Type.Optional(Type.String({ description: 'Why the server is not ready.' })),
  },
);
export type Readiness = Readonly<Static<typeof ReadinessSchema>>;

export const LivenessSchema = closedObject('Alive.', { status: Type.Literal('ok') });
export type Liveness = Static<typeof LivenessSchema>;
