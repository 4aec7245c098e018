/**
 * Message subjects (NATS subjects; the in-process transport carries the same ones).
 * Public API: DESIGN.md, "The same operations over NATS request-reply". Internal subjects carry
 * the traffic between services; `<pool>` and `<runId>` are safe subject tokens by construction.
 */
export const SUBJECTS = {
  runs: {
    submit: 'rein.v1.runs.submit',
    list: 'rein.v1.runs.list',
    get: 'rein.v1.runs.get',
    events: 'rein.v1.runs.events',
    replay: 'rein.v1.runs.replay',
    cancel: 'rein.v1.runs.cancel',
    rollback: 'rein.v1.runs.rollback',
    attemptEvents: 'rein.v1.runs.attempt-events',
    report: 'rein.v1.runs.report',
    whatIf: 'rein.v1.runs.what-if',
    compare: 'rein.v1.runs.compare',
    fork: 'rein.v1.runs.fork',
    rejudge: 'rein.v1.runs.rejudge',
    rejudgeGet: 'rein.v1.runs.rejudge.get',
  },
  tasks: {
    approve: 'rein.v1.tasks.approve',
    reject: 'rein.v1.tasks.reject',
    cancel: 'rein.v1.tasks.cancel',
    retry: 'rein.v1.tasks.retry',
  },
  pools: { list: 'rein.v1.pools.list' },
  /** The learning loop (docs/lessons.md): list, accept, reject. */
  lessons: {
    list: 'rein.v1.lessons.list',
    accept: 'rein.v1.lessons.accept',
    reject: 'rein.v1.lessons.reject',
  },
  /** A run's events are published here as they are appended. */
  events: (runId: string): string => `rein.v1.events.${runId}`,
  eventsAll: 'rein.v1.events.*',
  internal: {
    /** orchestrator → executor pool: run this attempt. */
    dispatch: (pool: string): string => `rein.internal.attempts.dispatch.${pool}`,
    /** orchestrator → executors: stop this attempt if you run it. */
    cancel: 'rein.internal.attempts.cancel',
    /** executor → orchestrator: facts about attempts. */
    attemptStarted: 'rein.internal.attempts.started',
    attemptFinished: 'rein.internal.attempts.finished',
    attemptUsage: 'rein.internal.attempts.usage',
    /** orchestrator → verifier: evaluate gate N of an attempt. */
    evaluateGate: 'rein.internal.gates.evaluate',
    /** verifier → orchestrator: a verdict. */
    gateVerdict: 'rein.internal.gates.verdict',
    /** orchestrator → verifier: evaluate a recorded gate again, answered with its verdict (re-judge; nothing reaches the run). */
    rejudgeGate: 'rein.internal.gates.rejudge',
    /** verifier → executor: run a test gate in the attempt's workspace and sandbox. */
    runTestGate: 'rein.internal.gates.test',
    /** verifier → executor: what the attempt changed (for the policy gate). */
    attemptChange: 'rein.internal.attempts.change',
    /** orchestrator → executor: restore a task's workspace / check snapshots (rollback). */
    snapshotsExist: 'rein.internal.snapshots.exist',
    /** orchestrator → executor: copy a source run's snapshots into a fork's repository (fork). */
    snapshotsAdopt: 'rein.internal.snapshots.adopt',
    /** audit → executor: the file-level diffs between two runs' snapshots of tasks (compare). */
    snapshotsDiff: 'rein.internal.snapshots.diff',
    /** → executors: describe your pools. */
    pools: 'rein.internal.pools.list',
  },
  /** Reads answered by the audit service's projections (the HTTP and NATS gateways ask these). */
  query: {
    get: 'rein.internal.query.get',
    list: 'rein.internal.query.list',
    events: 'rein.internal.query.events',
    replay: 'rein.internal.query.replay',
    attemptEvents: 'rein.internal.query.attempt-events',
    report: 'rein.internal.query.report',
    compare: 'rein.internal.query.compare',
    /** Lessons: proposals from the runs merged with the decisions (`{ scope?, status?, id? }`). */
    lessons: 'rein.internal.query.lessons',
  },
} as const;
