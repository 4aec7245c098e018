import type { DispatchAttempt } from '@rein/contracts';
import { Liquid } from 'liquidjs';

/** What a task's prompt template can see (DESIGN.md: "downstream prompts can use their upstream results"). */
export interface PromptContext {
  readonly run: {
    readonly id: string;
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
  };
  readonly task: { readonly id: string; readonly prompt?: string };
  /** 1-based attempt number; it only grows, across retries and rollbacks. */
  readonly attempt: number;
  /** The failing gate's reasons from the previous attempt; `''` on a first attempt. */
  readonly feedback: string;
  /** Accepted results of the tasks this one depends on, by task id. */
  readonly upstream: Readonly<Record<string, UpstreamResult>>;
  /** The run's accepted lessons (docs/lessons.md) as a Markdown list, one `- ` line each; `''` when none. */
  readonly lessons?: string;
}

export interface UpstreamResult {
  readonly summary: string;
  readonly snapshot: string | null;
  readonly exitCode: number;
}

export interface PromptLimits {
  /** Largest rendered prompt, in UTF-8 bytes. */
  readonly maxOutputBytes: number;
  /** Wall time the render may take, in ms (liquidjs `renderLimit`). */
  readonly renderTimeMs: number;
  /** Bytes of strings and arrays the template may allocate (liquidjs `memoryLimit`). */
  readonly memoryBytes: number;
  /** Largest template accepted, in characters (liquidjs `parseLimit`). */
  readonly maxTemplateChars: number;
}

export const DEFAULT_PROMPT_LIMITS: PromptLimits = {
  maxOutputBytes: 256 * 1024,
  renderTimeMs: 1000,
  memoryBytes: 16 * 1024 * 1024,
  maxTemplateChars: 1024 * 1024,
};

/** A template that does not parse or render; `line`/`col` point into the template when known. */
export class PromptError extends Error {
  override readonly name = 'PromptError';
  constructor(
    message: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(message);
  }
}

/**
 * Renders a task prompt with Liquid. The template comes from a submitted spec, so it is treated as
 * untrusted: unknown variables render empty (a prompt may mention `{{ feedback }}` on its first
 * attempt), but an unknown filter is an error (almost always a typo); templates cannot reach the
 * file system (`include`, `render` and `layout` resolve against an empty in-memory map, never the
 * host); only own properties are visible (no `constructor` or `__proto__`); and time, memory and
 * output are bounded.
 */
export async function renderPrompt(
  template: string,
  context: PromptContext,
  limits: Partial<PromptLimits> = {},
): Promise<string> {
  const lim = { ...DEFAULT_PROMPT_LIMITS, ...limits };
  const engine = new Liquid({
    templates: {},
    strictVariables: false,
    strictFilters: true,
    ownPropertyOnly: true,
    parseLimit: lim.maxTemplateChars,
    renderLimit: lim.renderTimeMs,
    memoryLimit: lim.memoryBytes,
  });
  let output: string;
  try {
    output = (await engine.parseAndRender(template, context)) as string;
  } catch (err) {
    throw toPromptError(err);
  }
  const bytes = Buffer.byteLength(output, 'utf8');
  if (bytes > lim.maxOutputBytes) {
    throw new PromptError(
      `prompt template rendered ${bytes} bytes, more than the limit of ${lim.maxOutputBytes}; ` +
        'shorten the template or truncate large values (e.g. `{{ upstream.api.summary | truncate: 2000 }}`)',
    );
  }
  return output;
}

function toPromptError(err: unknown): PromptError {
  if (!(err instanceof Error)) return new PromptError(`prompt template failed: ${String(err)}`);
  // liquidjs ends its messages with ", line:N, col:M"; lift the position out so the message reads
  // naturally and callers can point at it.
  const position = /, line:(\d+), col:(\d+)$/.exec(err.message);
  let detail = position ? err.message.slice(0, position.index) : err.message;
  if (/^ENOENT: Failed to lookup /.test(detail)) {
    detail = `${detail.replace(/^ENOENT: Failed to lookup ("[^"]*").*$/, 'cannot load $1')}: prompt templates cannot include, render or lay out other files`;
  }
  const kind = err.name === 'RenderError' ? 'failed to render' : 'is invalid';
  if (!position) return new PromptError(`prompt template ${kind}: ${detail}`);
  const line = Number(position[1]);
  const col = Number(position[2]);
  return new PromptError(`prompt template ${kind} at line ${line}, col ${col}: ${detail}`, line, col);
}

/** What a dispatched attempt's prompt template sees, whichever backend runs it. */
export function promptContextOf(m: DispatchAttempt): PromptContext {
  return {
    run: { id: m.runId, name: m.runName, labels: m.labels },
    task: { id: m.taskId },
    attempt: m.attempt,
    feedback: m.feedback,
    upstream: Object.fromEntries(
      m.upstream.map((u) => [
        u.task,
        // Unknown values read as "nothing recorded": an empty summary, and -1, never a fake success.
        { summary: u.summary ?? '', snapshot: u.snapshot, exitCode: u.exitCode ?? -1 },
      ]),
    ),
    lessons: lessonList(m.lessons ?? []),
  };
}

function lessonList(lessons: readonly { readonly text: string }[]): string {
  return lessons.map((l) => `- ${l.text.replace(/\s+/g, ' ').trim()}`).join('\n');
}

/** Whether a template reads `lessons` itself (`{{ lessons }}`, a filter or tag on it). */
export function templateUsesLessons(template: string): boolean {
  return /\{[{%][^}]*\blessons\b/.test(template);
}

/**
 * The "Lessons from earlier runs" section added after the guidance files: '' when the run has no
 * lessons, the template places them itself, or the agent profile's `context` is off.
 */
export function lessonsAppendix(m: DispatchAttempt): string {
  const lessons = m.lessons ?? [];
  if (lessons.length === 0 || templateUsesLessons(m.prompt) || m.agent.context?.enabled !== true) return '';
  return (
    '# Lessons from earlier runs\n\nGates of earlier runs of this repository kept failing for these reasons; ' +
    `a reviewer accepted them as rules:\n\n${lessonList(lessons)}\n`
  );
}
