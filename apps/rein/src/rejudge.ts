import type { RejudgeRequest, RejudgeView } from '@rein/contracts';
import { InvalidArgumentError } from 'commander';

/** `rein rejudge`'s flags, as commander gives them. */
export interface RejudgeFlags {
  readonly task?: string[];
  readonly gate?: (number | string)[];
  readonly judgeModel?: string;
  readonly judgeProvider?: string;
  readonly rubric?: string;
  readonly threshold?: number;
  readonly wait?: boolean;
}

/** Repeatable flags (`--task a --task b`) collect into a list. */
export function collect<T>(parse: (v: string) => T): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), parse(value)];
}

/** `--gate`: an index (0 is a task's first gate) or a kind; the server says which the run lacks. */
export function gateFlag(value: string): number | string {
  return /^[0-9]+$/.test(value) ? Number(value) : value;
}

export function thresholdFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('--threshold takes a number from 0 to 1, e.g. 0.8.');
  return n;
}

/** The request body the flags ask for; the server checks it (unknown tasks, gates, providers). */
export function rejudgeBody(f: RejudgeFlags): RejudgeRequest {
  const judge = {
    ...(f.judgeProvider === undefined ? {} : { provider: f.judgeProvider }),
    ...(f.judgeModel === undefined ? {} : { model: f.judgeModel }),
    ...(f.rubric === undefined ? {} : { rubric: f.rubric }),
    ...(f.threshold === undefined ? {} : { threshold: f.threshold }),
  };
  return {
    ...(f.task === undefined ? {} : { tasks: f.task }),
    ...(f.gate === undefined ? {} : { gates: f.gate }),
    ...(Object.keys(judge).length === 0 ? {} : { judge }),
  } as RejudgeRequest;
}

/** A re-judge as plain lines: its status, then one line per gate, recorded → now. */
export function renderRejudge(v: RejudgeView): string[] {
  const changed = v.verdicts.filter((x) => x.changed).length;
  const lines = [
    `rejudge ${v.rejudgeId} of run ${v.runId}: ${v.status}, ${v.verdicts.length}/${v.expected} gates, ${changed} changed`,
  ];
  if (v.reason) lines.push(`  reason: ${v.reason}`);
  const side = (s: { pass: boolean; score?: number }): string =>
    `${s.pass ? 'pass' : 'fail'}${s.score === undefined ? '' : ` ${s.score}`}`;
  for (const x of v.verdicts) {
    lines.push(
      `  ${x.taskId} #${x.attempt} gate ${x.gate} (${x.kind}): ${side(x.recorded)} → ${side(x.now)}${x.changed ? '  CHANGED' : ''}`,
    );
  }
  return lines;
}
