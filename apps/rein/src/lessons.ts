import type { Lesson } from '@rein/contracts';

/**
 * `rein lessons` (docs/lessons.md) as plain lines: per lesson its id, status, occurrences and
 * text, who decided it, then the runs it was learnt from.
 */
export function renderLessons(lessons: readonly Lesson[]): string[] {
  if (lessons.length === 0) return ['no lessons'];
  const lines: string[] = [];
  for (const l of lessons) {
    lines.push(`${l.id}  ${l.status}  ${l.occurrences}×  ${l.text}`);
    const decided =
      l.by === undefined ? '' : `; ${l.status} by ${l.by}${l.decidedAt ? ` at ${l.decidedAt}` : ''}`;
    const reason = l.reason === undefined ? '' : ` (${l.reason})`;
    lines.push(`  scope ${l.scope}; ${l.gate.kind} gate${decided}${reason}`);
    for (const p of l.provenance) {
      lines.push(
        `  - run ${p.runId} task ${p.taskId} attempt ${p.attempt} gate ${p.gate}: ${p.reasons[0] ?? ''}`,
      );
    }
  }
  return lines;
}

/** One line saying what a decision did. */
export function renderLessonDecision(l: Lesson): string {
  return `${l.status} lesson ${l.id} (scope ${l.scope}): ${l.text}`;
}
