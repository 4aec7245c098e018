import type {
  GateKind,
  ReportAnomaly,
  ReportApproval,
  ReportFailure,
  ReportIntervention,
  ReportRetry,
  ReportRollback,
  ReportTask,
  ReportTimelineEntry,
  RunEvent,
  RunReport,
} from '@rein/contracts';
import { fold, runView } from '@rein/domain';

/**
 * DESIGN.md's incident report as a pure function of a run's events (seq order, RunSubmitted's
 * spec resolved): no clock, no I/O, so the same log always gives the same report, and a report
 * of `replay?at=N`'s prefix is the report as it stood then.
 */
export function runReport(events: readonly RunEvent[]): RunReport {
  const first = events[0];
  const last = events[events.length - 1];
  if (!first || !last || first.type !== 'RunSubmitted')
    throw new Error('a report needs the run from its RunSubmitted');
  const view = runView(fold(first.runId, events));
  const spec = first.data.spec;

  const timeline: ReportTimelineEntry[] = [];
  const failures: ReportFailure[] = [];
  const retries: ReportRetry[] = [];
  const approvals: ReportApproval[] = [];
  const rollbacks: ReportRollback[] = [];
  const interventions: ReportIntervention[] = [];
  const anomalies: ReportAnomaly[] = [];
  /** Per attempt (`task#n`): when and with what feedback it was dispatched. */
  const dispatched = new Map<string, { at: string; feedback: string }>();
  const started = new Map<string, string>();
  /** Per attempt: what made it fail, for the failure's gate and output. */
  const causes = new Map<string, Cause>();
  /** Per task: when it last ended (succeeded, failed, cancelled, skipped). */
  const ended = new Map<string, string>();
  let rollbackBy: string | undefined;
  let completedAt: string | null = null;

  const note = (e: RunEvent, kind: ReportTimelineEntry['kind'], text: string): void => {
    timeline.push({
      seq: e.seq,
      at: e.at,
      kind,
      ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
      ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
      text,
    });
  };
  const anomaly = (e: RunEvent, kind: ReportAnomaly['kind'], detail: string): void => {
    anomalies.push({
      kind,
      ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
      ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
      seq: e.seq,
      detail,
    });
  };
  const failure = (e: RunEvent, reason: string, final: boolean): void => {
    const cause = e.attempt === undefined ? undefined : causes.get(key(e.taskId, e.attempt));
    failures.push({
      taskId: e.taskId ?? '',
      attempt: e.attempt ?? 0,
      at: e.at,
      reason,
      ...(cause?.gate === undefined ? {} : { gate: cause.gate.kind, gateIndex: cause.gate.index }),
      ...(cause?.output ? { output: cause.output } : {}),
      final,
    });
  };

  const intervene = (
    e: RunEvent,
    kind: ReportIntervention['kind'],
    by: string | undefined,
    reason: string | undefined,
  ): void => {
    interventions.push({
      kind,
      seq: e.seq,
      at: e.at,
      ...optional('by', by),
      ...optional('taskId', e.taskId),
      ...optional('reason', reason),
    });
  };

  for (const e of events) {
    const who = attemptName(e);
    switch (e.type) {
      case 'RunSubmitted': {
        const n = e.data.spec.spec.tasks.length;
        note(e, 'submitted', `run submitted${byText(e.data.by)}: ${n} task${n === 1 ? '' : 's'}`);
        break;
      }
      case 'TaskDispatched':
        dispatched.set(key(e.taskId, e.attempt), { at: e.at, feedback: e.data.feedback });
        break;
      case 'AttemptStarted': {
        const k = key(e.taskId, e.attempt);
        const before = started.get(k);
        if (before !== undefined)
          anomaly(e, 'redelivery', `${who} started again (${e.data.worker}); it had started at ${before}`);
        started.set(k, e.at);
        note(e, 'started', `${who} started on ${e.data.pool} (${e.data.worker})`);
        break;
      }
      case 'AttemptFinished': {
        const d = e.data;
        const clean = d.exitCode === 0 && d.error === undefined;
        if (!clean) causes.set(key(e.taskId, e.attempt), { output: d.summary });
        if (d.error !== undefined && /\bstall/i.test(d.error)) anomaly(e, 'stall', `${who}: ${d.error}`);
        const summary = d.summary ? `: ${oneLine(d.summary)}` : '';
        note(
          e,
          'finished',
          d.error === undefined
            ? `${who} exited with code ${d.exitCode}${summary}`
            : `${who} did not finish: ${oneLine(d.error)}`,
        );
        break;
      }
      case 'GateRequested':
        if ((e.data.request ?? 1) > 1)
          anomaly(
            e,
            'redelivery',
            `${who}: ${e.data.kind} gate ${e.data.gate} requested again (request ${e.data.request ?? 1}), no verdict came in time`,
          );
        break;
      case 'GateVerdictRecorded': {
        const d = e.data;
        if (!d.pass) {
          const output = typeof d.provenance.output === 'string' ? d.provenance.output : d.reasons.join('\n');
          causes.set(key(e.taskId, e.attempt), { gate: { kind: d.kind, index: d.gate }, output });
        }
        const score = d.score === undefined ? '' : ` (score ${d.score})`;
        const why = d.pass || d.reasons.length === 0 ? '' : `: ${oneLine(d.reasons[0]!)}`;
        note(e, 'verdict', `${who}: ${d.kind} gate ${d.gate} ${d.pass ? 'passed' : 'failed'}${score}${why}`);
        break;
      }
      case 'ApprovalGiven': {
        const d = e.data;
        const by = d.by ?? 'unknown';
        approvals.push({
          taskId: e.taskId ?? '',
          attempt: e.attempt ?? 1,
          decision: d.approve ? 'approved' : 'rejected',
          by,
          ...(d.comment === undefined ? {} : { comment: d.comment }),
          ...(d.final === undefined ? {} : { final: d.final }),
          at: e.at,
          seq: e.seq,
        });
        if (!d.approve)
          causes.set(key(e.taskId, e.attempt), {
            gate: { kind: 'approval', index: d.gate },
            ...(d.comment === undefined ? {} : { output: d.comment }),
          });
        const comment = d.comment ? `: “${oneLine(d.comment)}”` : '';
        note(
          e,
          'approval',
          `${who} ${d.approve ? 'approved' : 'rejected'} by ${by}${d.final ? ' (final)' : ''}${comment}`,
        );
        break;
      }
      case 'TimerFired':
        if (e.data.timer !== 'retry') {
          const detail = `${who}: ${e.data.timer} deadline passed (due ${new Date(e.data.dueAt).toISOString()})`;
          anomaly(e, 'timeout', detail);
          note(e, 'timeout', detail);
          causes.set(key(e.taskId, e.attempt), {});
        }
        break;
      case 'TaskRetryScheduled': {
        const d = e.data;
        retries.push({
          taskId: e.taskId ?? '',
          attempt: e.attempt ?? 1,
          nextAttempt: d.nextAttempt,
          at: e.at,
          delayMs: d.delayMs,
          reason: d.reason,
          feedback: d.feedback,
        });
        failure(e, d.reason, false);
        note(e, 'retry', `${who} failed: ${oneLine(d.reason)}; attempt ${d.nextAttempt} in ${d.delayMs} ms`);
        break;
      }
      case 'TaskFailed':
        ended.set(e.taskId ?? '', e.at);
        failure(e, e.data.reason, true);
        note(e, 'failed', `${who} failed for good: ${oneLine(e.data.reason)}`);
        break;
      case 'TaskSucceeded':
        ended.set(e.taskId ?? '', e.at);
        note(e, 'succeeded', `${who} succeeded`);
        break;
      case 'TaskCancelled':
        ended.set(e.taskId ?? '', e.at);
        note(e, 'cancelled', `${who} cancelled: ${oneLine(e.data.reason)}`);
        break;
      case 'TaskSkipped':
        ended.set(e.taskId ?? '', e.at);
        note(e, 'skipped', `task ${e.taskId ?? ''} skipped: ${oneLine(e.data.reason)}`);
        break;
      case 'CancelRequested':
        intervene(e, 'run-cancel', e.data.by, e.data.reason);
        note(e, 'cancel-requested', `run cancel requested${byText(e.data.by)}${reasonText(e.data.reason)}`);
        break;
      case 'TaskCancelRequested':
        intervene(e, 'task-cancel', e.data.by, e.data.reason);
        note(
          e,
          'cancel-requested',
          `cancel of task ${e.taskId ?? ''} requested${byText(e.data.by)}${reasonText(e.data.reason)}`,
        );
        break;
      case 'TaskRetryRequested':
        intervene(e, 'task-retry', e.data.by, undefined);
        note(e, 'retry-requested', `retry of task ${e.taskId ?? ''} requested${byText(e.data.by)}`);
        break;
      case 'TaskRetried':
        completedAt = null;
        note(e, 'retry-requested', `returned to pending with renewed retries: ${e.data.tasks.join(', ')}`);
        break;
      case 'RollbackRequested':
        rollbackBy = e.data.by;
        break;
      case 'RunRolledBack': {
        const d = e.data;
        completedAt = null;
        rollbacks.push({
          seq: e.seq,
          at: e.at,
          ...optional('by', rollbackBy),
          ...optional('toEvent', d.toEvent),
          ...optional('task', d.task),
          tasks: d.tasks,
          cancelled: d.cancelled,
        });
        const target = d.toEvent === undefined ? `task ${d.task ?? ''}` : `event ${d.toEvent}`;
        const stopped =
          d.cancelled.length === 0
            ? ''
            : `; cancelled ${d.cancelled.map((c) => `${c.task} #${c.attempt}`).join(', ')}`;
        note(
          e,
          'rollback',
          `rolled back to ${target}${byText(rollbackBy)}: ${d.tasks.join(', ') || 'no tasks'} returned to pending${stopped}`,
        );
        rollbackBy = undefined;
        break;
      }
      case 'BudgetExceeded':
        anomaly(e, 'budget', e.data.reason);
        note(e, 'budget', e.data.reason);
        break;
      case 'RunCompleted':
        completedAt = e.at;
        note(e, 'completed', `run ${e.data.status}${reasonText(e.data.reason)}`);
        break;
      case 'TaskReady':
      case 'TaskStarted':
      case 'AttemptUsageReported':
        break;
    }
  }

  const tasks: ReportTask[] = view.tasks.map((t) => ({
    id: t.id,
    state: t.state,
    dependsOn: t.dependsOn,
    ...optional('reason', t.reason),
    attempts: t.attempts.map((a) => {
      const d = dispatched.get(key(t.id, a.n));
      return {
        n: a.n,
        state: a.state,
        dispatchedAt: d?.at ?? a.startedAt ?? view.createdAt,
        startedAt: a.startedAt,
        finishedAt: a.finishedAt,
        exitCode: a.exitCode,
        usage: a.usage,
        ...optional('reason', a.reason),
        ...(d?.feedback ? { feedback: d.feedback } : {}),
        verdicts: a.verdicts,
      };
    }),
  }));

  const endedAt = view.status === 'running' ? null : (completedAt ?? last.at);
  return {
    runId: view.runId,
    name: view.name,
    status: view.status,
    ...optional('reason', view.reason),
    ...optional('submittedBy', first.data.by),
    ...(first.data.forkedFrom === undefined
      ? {}
      : {
          forkedFrom: {
            ...first.data.forkedFrom,
            carried: (first.data.carried ?? []).map((c) => c.task),
          },
        }),
    seq: last.seq,
    startedAt: first.at,
    endedAt,
    durationMs: Math.max(0, Date.parse(endedAt ?? last.at) - Date.parse(first.at)),
    usage: view.usage,
    ...optional('budget', spec.spec.budget),
    criticalPath: criticalPath(tasks, ended, last.at),
    tasks,
    timeline,
    failures,
    retries,
    approvals,
    rollbacks,
    interventions,
    anomalies,
  };
}

/**
 * The chain of tasks that decided the duration: the task that ended last, then the dependency of
 * it that ended last (the one it waited for), and so on back to a task with none; root first. Only
 * tasks that ran count (a skipped task took no time); a task still running ends "now", at the
 * latest event. Ties go to the task first in spec order.
 */
export function criticalPath(
  tasks: readonly Pick<ReportTask, 'id' | 'state' | 'dependsOn' | 'attempts'>[],
  endedAt: ReadonlyMap<string, string>,
  now: string,
): string[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const end = (id: string): number | undefined => {
    const t = byId.get(id);
    if (!t || t.attempts.length === 0) return undefined;
    const last = t.attempts[t.attempts.length - 1]!;
    const at = isEnded(t.state) ? (endedAt.get(id) ?? last.finishedAt ?? last.startedAt) : now;
    return at === null ? undefined : Date.parse(at);
  };
  const latest = (ids: readonly string[]): string | undefined => {
    let best: string | undefined;
    let bestEnd = Number.NEGATIVE_INFINITY;
    for (const id of ids) {
      const e = end(id);
      if (e !== undefined && e > bestEnd) {
        best = id;
        bestEnd = e;
      }
    }
    return best;
  };
  const path: string[] = [];
  const seen = new Set<string>();
  for (let id = latest(tasks.map((t) => t.id)); id !== undefined && !seen.has(id);) {
    seen.add(id);
    path.push(id);
    id = latest(byId.get(id)!.dependsOn);
  }
  return path.reverse();
}

interface Cause {
  readonly gate?: { readonly kind: GateKind; readonly index: number };
  readonly output?: string;
}

function isEnded(state: ReportTask['state']): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled' || state === 'skipped';
}

function key(taskId: string | undefined, attempt: number | undefined): string {
  return `${taskId ?? ''}#${attempt ?? 0}`;
}

function attemptName(e: RunEvent): string {
  if (e.taskId === undefined) return 'run';
  return e.attempt === undefined ? `task ${e.taskId}` : `${e.taskId} #${e.attempt}`;
}

function byText(by: string | undefined): string {
  return by === undefined ? '' : ` by ${by}`;
}

function reasonText(reason: string | undefined): string {
  return reason ? `: ${oneLine(reason)}` : '';
}

/** The first line of `text`, at most 200 characters: a timeline entry is one sentence. */
function oneLine(text: string): string {
  const line = text.trim().split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function optional<K extends string, V>(name: K, value: V | undefined | null): { [P in K]?: V } {
  return (value === undefined || value === null ? {} : { [name]: value }) as { [P in K]?: V };
}
