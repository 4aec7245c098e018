/**
 * Context assembly: the repository guidance an agent profile's `context`
 * names (AGENTS.md, CLAUDE.md by default) read from the workspace root and added to the prompt,
 * under a byte budget, in sections the agent can tell apart from the task's own prompt.
 *
 * The executor reads these files as itself, from a workspace an agent and its hooks wrote, so a
 * path is read only when it resolves (symlinks and all) to a regular file inside the workspace:
 * `AGENTS.md -> /etc/shadow` or a symlinked directory leading out is refused and said so, never
 * followed. A FIFO or device is refused too (opening one could block or read forever).
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { type AgentContext } from '@rein/contracts';
import { utf8Prefix } from './agent-output.js';

export interface GuidanceFile {
  readonly path: string;
  /** The file's size. */
  readonly bytes: number;
  /** Bytes of it that went into the prompt: all of them unless the budget ran out. */
  readonly keptBytes: number;
}

/** What was read for one attempt: recorded in its transcript beside the prompt. */
export interface GuidanceReport {
  readonly enabled: boolean;
  readonly maxBytes: number;
  /** Found and read, in the profile's order (a file the budget left no room for has keptBytes 0). */
  readonly found: readonly GuidanceFile[];
  readonly missing: readonly string[];
  readonly refused: readonly { readonly path: string; readonly reason: string }[];
  /** Some guidance was left out or shortened to stay within maxBytes. */
  readonly cut: boolean;
}

export interface Guidance {
  readonly report: GuidanceReport;
  /** The text added after the prompt; '' when nothing was found (or context is off). */
  readonly section: string;
}

/** A spec recorded before `context` existed gave its agents none (run-spec.types.ts). */
const OFF: AgentContext = { enabled: false, guidance: [], maxBytes: 1 };

/** Reads the guidance `context` names from the workspace at `root`. Never throws for a file's sake. */
export async function readGuidance(root: string, context: AgentContext | undefined): Promise<Guidance> {
  const c = context ?? OFF;
  const report = {
    enabled: c.enabled,
    maxBytes: c.maxBytes,
    found: [] as GuidanceFile[],
    missing: [] as string[],
    refused: [] as { path: string; reason: string }[],
    cut: false,
  };
  if (!c.enabled || c.guidance.length === 0) return { report, section: '' };
  const rootReal = await realpath(root);
  let left = c.maxBytes;
  const parts: string[] = [];
  for (const file of c.guidance) {
    const read = await readOne(rootReal, file, left);
    if ('missing' in read) {
      report.missing.push(file);
      continue;
    }
    if ('refused' in read) {
      report.refused.push({ path: file, reason: read.refused });
      continue;
    }
    const kept = read.kept;
    report.found.push({ path: file, bytes: read.bytes, keptBytes: kept });
    // A file cut short spends the budget: the next one is not begun with the byte or two left.
    left = kept < read.bytes ? 0 : left - kept;
    if (kept < read.bytes) report.cut = true;
    if (kept > 0) parts.push(`## Repository guidance (${file})\n\n${read.text.trimEnd()}\n`);
  }
  if (report.found.length === 0) return { report, section: '' };
  const note = cutNote(report);
  return {
    report,
    section:
      '# Repository guidance\n\nThese files from the repository say how to work in it.\n\n' +
      parts.join('\n') +
      (note === '' ? '' : `\n${note}\n`),
  };
}

/**
 * The prompt the agent gets: the task's rendered prompt, then the guidance section, then the
 * run's lessons section (`lessonsAppendix` of libs/prompts; '' for none).
 */
export function promptWithGuidance(prompt: string, guidance: Guidance, lessons = ''): string {
  const withGuidance = guidance.section === '' ? prompt : `${prompt.trimEnd()}\n\n${guidance.section}`;
  if (lessons === '') return withGuidance;
  return `${withGuidance.trimEnd()}\n\n${lessons}`;
}

/** The prompt's text per transcript event; a longer prompt takes several (promptEvents). */
export const TRANSCRIPT_PROMPT_BYTES = 128 * 1024;

/**
 * The transcript's record of the prompt the agent got, whole: its size, sha256 and guidance in
 * the first event, its text in parts of at most TRANSCRIPT_PROMPT_BYTES (one event must fit one
 * transport message, escaped), the first in that event and the rest in `prompt-part` events.
 */
export function promptEvents(prompt: string, guidance: Guidance, inEnv: boolean): Record<string, unknown>[] {
  const parts: string[] = [];
  for (let rest = prompt; rest !== '' || parts.length === 0;) {
    const part = utf8Prefix(rest, TRANSCRIPT_PROMPT_BYTES);
    parts.push(part);
    rest = rest.slice(part.length);
  }
  return parts.map((part, i) =>
    i === 0
      ? {
          status: 'prompt',
          prompt: part,
          bytes: Buffer.byteLength(prompt),
          sha256: createHash('sha256').update(prompt, 'utf8').digest('hex'),
          parts: parts.length,
          ...(inEnv ? {} : { promptInEnv: false }),
          context: guidance.report,
        }
      : { status: 'prompt-part', part: i + 1, prompt: part },
  );
}

/** Says what the budget cut, so neither the agent nor an auditor mistakes a part for the whole. */
function cutNote(r: GuidanceReport): string {
  if (!r.cut) return '';
  const what = r.found
    .filter((f) => f.keptBytes < f.bytes)
    .map((f) =>
      f.keptBytes === 0
        ? `${f.path} left out (${f.bytes} bytes)`
        : `${f.path} cut to its first ${f.keptBytes} of ${f.bytes} bytes`,
    );
  return `[Rein: repository guidance is limited to ${r.maxBytes} bytes (context.maxBytes): ${what.join('; ')}.]`;
}

type ReadResult = { missing: true } | { refused: string } | { text: string; bytes: number; kept: number };

async function readOne(rootReal: string, file: string, budget: number): Promise<ReadResult> {
  const full = path.join(rootReal, file);
  let resolved: string;
  try {
    resolved = await realpath(full);
  } catch (error) {
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) {
      // A dangling symlink is missing too, unless it points out of the workspace.
      const link = await lstat(full).catch(() => null);
      return link?.isSymbolicLink()
        ? { refused: 'a symlink whose target does not exist' }
        : { missing: true };
    }
    if (isCode(error, 'ELOOP')) return { refused: 'a symlink loop' };
    return { refused: `cannot be read: ${codeOf(error)}` };
  }
  if (resolved !== rootReal && !resolved.startsWith(rootReal + path.sep)) {
    return { refused: 'a symlink that leads out of the workspace' };
  }
  let handle;
  try {
    // O_NOFOLLOW: the resolved path names no symlink; one swapped in since is not followed.
    handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return { refused: `cannot be read: ${codeOf(error)}` };
  }
  try {
    const stat: Stats = await handle.stat();
    if (!stat.isFile()) return { refused: stat.isDirectory() ? 'a directory' : 'not a regular file' };
    // One byte past the budget, to see whether the cut splits a character.
    const want = Math.min(stat.size, budget + 1);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buf, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    let end = Math.min(got, budget);
    // Cut on a character boundary: a split UTF-8 sequence would decode to U+FFFD.
    if (end < got) while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
    return { text: buf.subarray(0, end).toString('utf8'), bytes: Math.max(stat.size, got), kept: end };
  } finally {
    await handle.close();
  }
}

function isCode(error: unknown, code: string): boolean {
  return codeOf(error) === code;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(error);
}
