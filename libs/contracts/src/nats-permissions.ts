import { SUBJECTS } from './subjects.js';

/**
 * Who may publish and subscribe what on NATS (DESIGN.md: "Only the services may publish on
 * internal subjects … an API client cannot forge a fact"). deploy/nats/rein-auth.conf is rendered
 * from this by `renderNatsAuthConfig` and a test keeps the two equal, and checks every subject of
 * SUBJECTS has a publisher and a subscriber here, so a new subject cannot be missed.
 *
 * Request-reply: the requester publishes the subject and subscribes its reply inbox; the responder
 * subscribes the subject and publishes to the inbox (several messages when the reply is chunked,
 * so `allow_responses`' one reply per request would not do). Each service user has an inbox of its
 * own (`_REIN_INBOX.<user>.>`, `natsInboxPrefix`) that only it may subscribe, so no other user
 * reads the replies a service is sent. API clients keep the default `_INBOX.>`, which stock NATS
 * clients use; only services publish to either, so an API client cannot answer a request.
 * (API clients sharing the `rein-api` user can read each other's replies; a deployment that must
 * keep clients apart gives each its own user.)
 *
 * JetStream: each service may call the JetStream API only on the streams it uses (`jsApiOn`):
 * their info, create and update (every side ensures the topology it needs, so start order does
 * not matter), reading their messages, and their consumers — never deleting or purging a stream,
 * and never touching another service's. Acks are scoped to the work queue the service consumes.
 * The streams' subjects (`rein.log.>` and `rein.log-parts.>` for the event store, `rein.dispatch.>` and `rein.gates.>`
 * for the work queues) are for services only; the API user has no JetStream at all. The stream
 * names are the deployment's defaults: a deployment that renames them regenerates this file.
 */
export type NatsUserName = 'orchestrator' | 'executor' | 'verifier' | 'audit' | 'api';

export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** API clients' reply inboxes (every stock NATS client's default prefix). */
const INBOX = '_INBOX.>';
/** Where services' reply inboxes live: one level per user below it. */
const REIN_INBOX_ROOT = '_REIN_INBOX';
/** Every reply a service may send: to API clients and to other services. */
const REPLIES = [INBOX, `${REIN_INBOX_ROOT}.>`];
/** The reply inbox only `user` may subscribe. */
const inboxOf = (user: NatsUserName | 'all'): string => `${REIN_INBOX_ROOT}.${user}.>`;
/** Account info: what `jetstreamManager()` asks first. */
const JS_INFO = '$JS.API.INFO';
/** The JetStream streams Rein keeps: the event log and the two work queues. */
const EVENTS_STREAM = 'REIN_EVENTS';
/** The event log's second stream: the events of batches too large for one message. */
const EVENT_PARTS_STREAM = 'REIN_EVENTS_PARTS';
const DISPATCH_STREAM = 'REIN_DISPATCH';
const GATES_STREAM = 'REIN_GATES';

/** The JetStream API calls a service may make on `stream` (none deletes or purges it). */
function jsApiOn(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.UPDATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
  ];
}
/** Acknowledgements of `stream`'s deliveries (`$JS.ACK.<stream>.<consumer>.…`). */
const ackOn = (stream: string): string => `$JS.ACK.${stream}.>`;
/** The JetStream event store's subjects (`--store jetstream`; libs/event-store). */
const LOG = 'rein.log.>';
const LOG_PARTS = 'rein.log-parts.>';
/** What reading the log takes: both its streams. */
const readLog = [JS_INFO, ...jsApiOn(EVENTS_STREAM), ...jsApiOn(EVENT_PARTS_STREAM)];
/** The dispatch and gate work queues (libs/dispatch). */
const DISPATCH_QUEUE = 'rein.dispatch.>';
const GATE_QUEUE = 'rein.gates.>';

const q = SUBJECTS.query;
const i = SUBJECTS.internal;
const publicCalls = [
  ...Object.values(SUBJECTS.runs),
  ...Object.values(SUBJECTS.tasks),
  ...Object.values(SUBJECTS.pools),
  ...Object.values(SUBJECTS.lessons),
];
/** The services that append to the event store (`--store jetstream`): its subjects and its stream. */
const store = [LOG, LOG_PARTS, ...readLog];

export const NATS_PERMISSIONS: Readonly<Record<NatsUserName, NatsPermissions>> = {
  orchestrator: {
    publish: [
      ...REPLIES,
      SUBJECTS.events('*'),
      i.dispatch('*'),
      i.cancel,
      i.evaluateGate,
      i.rejudgeGate,
      i.snapshotsExist,
      i.snapshotsAdopt,
      i.pools,
      ...Object.values(q),
      DISPATCH_QUEUE,
      GATE_QUEUE,
      ...store,
      ...jsApiOn(DISPATCH_STREAM),
      ...jsApiOn(GATES_STREAM),
    ],
    subscribe: [
      inboxOf('orchestrator'),
      ...publicCalls,
      SUBJECTS.events('*'),
      i.attemptStarted,
      i.attemptFinished,
      i.attemptUsage,
      i.gateVerdict,
    ],
  },
  executor: {
    publish: [
      ...REPLIES,
      i.attemptStarted,
      i.attemptFinished,
      i.attemptUsage,
      ...store,
      ...jsApiOn(DISPATCH_STREAM),
      ackOn(DISPATCH_STREAM),
    ],
    subscribe: [
      inboxOf('executor'),
      i.dispatch('*'),
      i.cancel,
      i.pools,
      i.runTestGate,
      i.attemptChange,
      i.snapshotsExist,
      i.snapshotsAdopt,
      i.snapshotsDiff,
      SUBJECTS.eventsAll,
    ],
  },
  verifier: {
    // Appends to the log (`rein.log.>`): the verdict cache (`verdict-<hash>`) and judges' raw
    // answers in the attempt's transcript (`judge_response`); it consumes the gate work queue.
    // A subject token is a whole stream id, so the permission cannot name those streams alone.
    publish: [
      ...REPLIES,
      i.gateVerdict,
      i.runTestGate,
      i.attemptChange,
      ...store,
      ...jsApiOn(GATES_STREAM),
      ackOn(GATES_STREAM),
    ],
    subscribe: [inboxOf('verifier'), i.evaluateGate, i.rejudgeGate],
  },
  audit: {
    // Reads the log, appends nothing: the event stream's API only.
    // and asks the executor for snapshot diffs (compare).
    publish: [...REPLIES, ...readLog, i.snapshotsDiff],
    subscribe: [inboxOf('audit'), ...Object.values(q)],
  },
  /** An API client: the public calls and the run event feed, nothing internal, no JetStream. */
  api: {
    publish: [...publicCalls],
    subscribe: [INBOX, SUBJECTS.eventsAll],
  },
};

/** The NATS user of each service and of API clients in deploy/nats/rein-auth.conf. */
export const NATS_USERS: Readonly<Record<NatsUserName | 'all', string>> = {
  orchestrator: 'rein-orchestrator',
  executor: 'rein-executor',
  verifier: 'rein-verifier',
  audit: 'rein-audit',
  api: 'rein-api',
  /** A process running several services (`rein up` with all four): the union of theirs. */
  all: 'rein',
};

/** The environment variable the server reads a user's password from (never in the file). */
export function natsPasswordVariable(user: NatsUserName | 'all'): string {
  return user === 'all' ? 'REIN_NATS_ALL_PASS' : `REIN_NATS_${user.toUpperCase()}_PASS`;
}

/**
 * Every service's permissions together, and its own inbox: the user of a process that runs all of
 * them.
 */
export function unionPermissions(users: readonly NatsUserName[]): NatsPermissions {
  const merge = (k: keyof NatsPermissions): string[] => [
    ...new Set(users.flatMap((u) => NATS_PERMISSIONS[u][k])),
  ];
  return { publish: merge('publish'), subscribe: [inboxOf('all'), ...merge('subscribe')] };
}

/**
 * The inbox prefix a Rein process connecting as NATS user `user` asks for replies on: its own
 * inbox when `user` is one of the services' users (deploy/nats/rein-auth.conf lets nobody else
 * subscribe it), otherwise none — API clients and deployments with users of their own keep the
 * default `_INBOX`.
 */
export function natsInboxPrefix(user: string | undefined): string | undefined {
  const known = Object.entries(NATS_USERS).find(([key, name]) => name === user && key !== 'api');
  return known ? `${REIN_INBOX_ROOT}.${known[0]}` : undefined;
}

/** deploy/nats/rein-auth.conf: an `authorization` block for nats-server (`include` it). */
export function renderNatsAuthConfig(): string {
  const list = (xs: readonly string[]): string => xs.map((x) => `"${x}"`).join(', ');
  const user = (name: NatsUserName | 'all', p: NatsPermissions): string =>
    [
      `    {`,
      `      user: "${NATS_USERS[name]}"`,
      `      password: $${natsPasswordVariable(name)}`,
      `      permissions: {`,
      `        publish: { allow: [${list(p.publish)}] }`,
      `        subscribe: { allow: [${list(p.subscribe)}] }`,
      `      }`,
      `    }`,
    ].join('\n');
  const services: NatsUserName[] = ['orchestrator', 'executor', 'verifier', 'audit'];
  return [
    '# Generated from libs/contracts/src/nats-permissions.ts (test: nats-permissions.spec.ts); do not edit.',
    '# One NATS user per Rein service, one for API clients, and `rein` for a process running all four.',
    '# Passwords come from the nats-server environment, e.g. REIN_NATS_EXECUTOR_PASS.',
    'authorization {',
    '  users: [',
    [
      ...services.map((s) => user(s, NATS_PERMISSIONS[s])),
      user('api', NATS_PERMISSIONS.api),
      user('all', unionPermissions(services)),
    ].join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** Every literal subject and pattern in SUBJECTS (functions called with `*`). */
export function allSubjects(): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (typeof v === 'function') out.push((v as (x: string) => string)('*'));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(SUBJECTS);
  return [...new Set(out)];
}

/** Whether NATS subject `subject` (it may hold `*`) is matched by pattern `pattern`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let k = 0; k < p.length; k++) {
    if (p[k] === '>') return s.length > k;
    if (k >= s.length) return false;
    if (p[k] !== '*' && p[k] !== s[k]) return false;
  }
  return p.length === s.length;
}
