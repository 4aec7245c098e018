import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attemptStream,
  toTranscriptEvent,
  type AgentProfile,
  type AttemptFinishedMessage,
  type DispatchAttempt,
  type TranscriptEvent,
} from '@rein/contracts';
import { InMemoryEventStore } from '@rein/event-store';
import { type Sandbox } from '@rein/sandbox';
import { WorkspaceManager } from '@rein/workspace';
import { LocalPool, type AttemptReporter } from '../local.pool.js';
import { agentRuntimesFromToolsDir } from './index.js';
import { type AgentRuntimesConfig } from './agent-runtime.js';
import { type PriceTable } from './codex.prices.js';

/**
 * A LocalPool with real workspaces, an in-memory transcript store and the agent CLIs installed in
 * tools/agents, for the runtimes' integration tests. Not a test itself.
 */
export const TOOLS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../tools/agents',
);

/** Why the CLIs cannot run here, or undefined when both are installed. */
export function agentsMissing(): string | undefined {
  for (const bin of ['claude', 'codex']) {
    const link = path.join(TOOLS_DIR, 'node_modules', '.bin', bin);
    if (!existsSync(link)) return `${link} is missing: run \`npm ci --prefix tools/agents\``;
  }
  return undefined;
}

export class RuntimeHarness {
  readonly root: string;
  readonly dataDir: string;
  readonly transcripts = new InMemoryEventStore();
  readonly finishes: AttemptFinishedMessage[] = [];
  private readonly pools: LocalPool[] = [];
  private readonly workspaces: WorkspaceManager;
  private runs = 0;

  constructor() {
    this.root = mkdtempSync(path.join(tmpdir(), 'rein-runtime-'));
    // The bubblewrap sandbox runs the agent as an unprivileged uid of its own, which must reach the workspaces.
    chmodSync(this.root, 0o755);
    this.dataDir = path.join(this.root, 'data');
    this.workspaces = new WorkspaceManager({ dataDir: this.dataDir });
  }

  pool(o: {
    sandbox: Sandbox;
    providers: { anthropicBaseUrl?: string; openaiBaseUrl?: string; codexPrices?: PriceTable };
    secrets: Readonly<Record<string, string>>;
    agentRuntimes?: AgentRuntimesConfig;
  }): LocalPool {
    const reporter: AttemptReporter = {
      started: () => Promise.resolve(),
      finished: (m) => {
        this.finishes.push(m);
        return Promise.resolve();
      },
    };
    const p = new LocalPool({
      name: 'local',
      labels: ['local'],
      capacity: 2,
      dataDir: this.dataDir,
      sandbox: o.sandbox,
      workspaces: this.workspaces,
      transcripts: this.transcripts,
      reporter,
      now: Date.now,
      resolveSecrets: (names) =>
        Object.fromEntries(names.flatMap((n) => (o.secrets[n] === undefined ? [] : [[n, o.secrets[n]]]))),
      agentRuntimes:
        o.agentRuntimes ?? agentRuntimesFromToolsDir(TOOLS_DIR, { ...o.providers, maxRetries: 0 }),
    });
    this.pools.push(p);
    return p;
  }

  nextRun(): string {
    return `run-${++this.runs}`;
  }

  workspaceDir(runId: string, taskId = 't'): string {
    return path.join(this.dataDir, 'runs', runId, 'workspaces', taskId);
  }

  async finishedOf(runId: string, deadlineMs = 15_000): Promise<AttemptFinishedMessage> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const found = this.finishes.find((f) => f.runId === runId);
      if (found) return found;
      if (Date.now() > until)
        throw new Error(`timed out after ${deadlineMs} ms waiting for ${runId} to finish`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async transcript(runId: string): Promise<TranscriptEvent[]> {
    return (await this.transcripts.readStream(attemptStream(runId, 't', 1))).map(toTranscriptEvent);
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.splice(0).map((p) => p.close()));
    await this.transcripts.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function profile(extra: Partial<AgentProfile>): AgentProfile {
  return {
    runtime: 'claude-code',
    env: {},
    secrets: [],
    network: { allow: [] },
    limits: { cpuSeconds: 60, memoryMb: 4096, pids: 256, fileSizeMb: 64 },
    hooks: { timeoutMs: 10_000 },
    ...extra,
  };
}

export function dispatch(
  runId: string,
  agent: AgentProfile,
  extra: Partial<DispatchAttempt> = {},
): DispatchAttempt {
  return {
    runId,
    runName: 'runtime-test',
    labels: {},
    taskId: 't',
    attempt: 1,
    pool: 'local',
    priority: 0,
    agentName: 'coder',
    agent,
    prompt: 'Task {{ task.id }}, attempt {{ attempt }}: write hello.txt',
    feedback: '',
    upstream: [],
    restart: false,
    timeoutMs: 20_000,
    ...extra,
  };
}

/** Polls `check` until it holds; throws naming `what` after the deadline. */
export async function until(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The `status` values of a transcript, in order. */
export function statuses(events: readonly TranscriptEvent[]): unknown[] {
  return events.filter((e) => e.type === 'status').map((e) => e.data.status);
}
