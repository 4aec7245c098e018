import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  attemptStream,
  type AgentProfile,
  type AttemptFinishedMessage,
  type AttemptStartedMessage,
  type DispatchAttempt,
  type TranscriptEvent,
} from '@rein/contracts';
import { InMemoryEventStore } from '@rein/event-store';
import { processesWithMarker } from '@rein/testing';
import { BubblewrapSandbox, detectSandbox } from '@rein/sandbox';
import { WorkspaceManager } from '@rein/workspace';
import { LocalPool, toTranscriptEvent, type AttemptReporter, type LocalPoolOptions } from './index.js';

/**
 * The pool against real parts: bubblewrap (the agent runs as its own unprivileged uid, so every directory on
 * the way to the data dir must be traversable), git workspaces in a temporary data dir, and an
 * in-memory event store for transcripts.
 */
const detected = await detectSandbox();
if (!detected.available) {
  process.stderr.write(
    `local pool tests skipped: bubblewrap unavailable: ${detected.reason ?? 'unknown reason'}\n`,
  );
}
const describeBwrap = detected.available ? describe : describe.skip;

class Collector implements AttemptReporter {
  readonly starts: AttemptStartedMessage[] = [];
  readonly finishes: AttemptFinishedMessage[] = [];
  failuresLeft = 0;

  started(m: AttemptStartedMessage): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      return Promise.reject(new Error('orchestrator unavailable'));
    }
    this.starts.push(m);
    return Promise.resolve();
  }

  finished(m: AttemptFinishedMessage): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      return Promise.reject(new Error('orchestrator unavailable'));
    }
    this.finishes.push(m);
    return Promise.resolve();
  }

  async finishedOf(
    runId: string,
    taskId = 't',
    attempt = 1,
    deadlineMs = 10_000,
  ): Promise<AttemptFinishedMessage> {
    const find = (): AttemptFinishedMessage | undefined =>
      this.finishes.find((f) => f.runId === runId && f.taskId === taskId && f.attempt === attempt);
    await eventually(
      () => find() !== undefined,
      deadlineMs,
      `finished report of ${runId}/${taskId}/${attempt}`,
    );
    return find()!;
  }
}

async function eventually(check: () => boolean, deadlineMs: number, what: string): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let root: string;
let dataDir: string;
let workspaces: WorkspaceManager;
let transcripts: InMemoryEventStore;
const pools: LocalPool[] = [];
const secrets: Record<string, string> = { API_TOKEN: 's3cr3t-token-value-42' };
let runs = 0;
const nextRun = (): string => `run-${++runs}`;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rein-pool-'));
  chmodSync(root, 0o755);
  dataDir = path.join(root, 'data');
  workspaces = new WorkspaceManager({ dataDir });
  transcripts = new InMemoryEventStore();
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await transcripts.close();
  rmSync(root, { recursive: true, force: true });
});

function pool(extra: Partial<LocalPoolOptions> = {}): { pool: LocalPool; reporter: Collector } {
  const reporter = new Collector();
  const p = new LocalPool({
    name: 'local',
    labels: ['local'],
    capacity: 4,
    dataDir,
    sandbox: new BubblewrapSandbox(),
    workspaces,
    transcripts,
    reporter,
    now: Date.now,
    resolveSecrets: (names) =>
      Object.fromEntries(names.flatMap((n) => (n in secrets ? [[n, secrets[n]!]] : []))),
    reportRetry: { attempts: 5, initialMs: 10 },
    ...extra,
  });
  pools.push(p);
  return { pool: p, reporter };
}

function agent(command: string, extra: Partial<AgentProfile> = {}): AgentProfile {
  return {
    runtime: 'command',
    command,
    env: {},
    secrets: [],
    network: { allow: [] },
    limits: { cpuSeconds: 30, memoryMb: 512, pids: 64, fileSizeMb: 16 },
    hooks: { timeoutMs: 10_000 },
    ...extra,
  };
}

function attempt(
  runId: string,
  profile: AgentProfile,
  extra: Partial<DispatchAttempt> = {},
): DispatchAttempt {
  return {
    runId,
    runName: 'demo-run',
    labels: { team: 'platform' },
    taskId: 't',
    attempt: 1,
    pool: 'local',
    priority: 0,
    agentName: 'coder',
    agent: profile,
    prompt: 'do the work',
    feedback: '',
    upstream: [],
    restart: false,
    timeoutMs: 20_000,
    ...extra,
  };
}

const noop = agent('', { runtime: 'noop' });

async function transcriptOf(runId: string, taskId = 't', n = 1): Promise<TranscriptEvent[]> {
  return (await transcripts.readStream(attemptStream(runId, taskId, n))).map(toTranscriptEvent);
}

function outputText(events: readonly TranscriptEvent[]): string {
  return events
    .filter((e) => e.type === 'output')
    .map((e) => String(e.data.text))
    .join('');
}

describe('LocalPool without a sandbox (noop, unimplemented runtimes, reporting)', () => {
  it('runs a noop attempt without workspace or transcript: started, then finished with exit 0', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, noop));
    const f = await reporter.finishedOf(runId);
    expect(f.result).toEqual({ exitCode: 0, summary: 'noop', snapshot: null, usage: { tokens: 0, usd: 0 } });
    expect(reporter.starts.map((s) => [s.runId, s.pool])).toEqual([[runId, 'local']]);
    expect(existsSync(path.join(dataDir, 'runs', runId))).toBe(false);
    expect(await transcripts.streamVersion(attemptStream(runId, 't', 1))).toBe(0);
  });

  it('fails claude-code and codex attempts that declare no API key for good, naming the fix', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('', { runtime: 'claude-code' })));
    p.dispatch(attempt(runId, agent('', { runtime: 'codex' }), { taskId: 'u' }));
    const f = await reporter.finishedOf(runId);
    const g = await reporter.finishedOf(runId, 'u');
    expect(f.result.error).toMatch(/declares no API key: add ANTHROPIC_API_KEY to agents\.coder\.secrets/);
    expect(g.result.error).toMatch(/declares no API key/);
    expect(f.result.retryable).toBe(false);
    expect(g.result.retryable).toBe(false);
  });

  it('ignores a redelivered dispatch, whether the attempt is queued, running or finished', async () => {
    const { pool: p, reporter } = pool({ capacity: 1 });
    const runId = nextRun();
    p.dispatch(attempt(runId, noop)); // runs
    p.dispatch(attempt(runId, noop)); // duplicate of a running attempt
    p.dispatch(attempt(runId, noop, { taskId: 'q' })); // queued
    p.dispatch(attempt(runId, noop, { taskId: 'q' })); // duplicate of a queued attempt
    await reporter.finishedOf(runId, 'q');
    p.dispatch(attempt(runId, noop)); // duplicate of a finished attempt
    p.dispatch(attempt(runId, noop, { taskId: 'last' }));
    await reporter.finishedOf(runId, 'last');
    // Capacity 1 runs in order, so a duplicate that ran would have reported before 'last'.
    expect(reporter.starts.map((s) => s.taskId)).toEqual(['t', 'q', 'last']);
    expect(reporter.finishes.map((s) => s.taskId)).toEqual(['t', 'q', 'last']);
  });

  it('starts queued attempts by priority, then in arrival order', async () => {
    const { pool: p, reporter } = pool({ capacity: 1 });
    const runId = nextRun();
    p.dispatch(attempt(runId, noop, { taskId: 'first' })); // takes the only slot at once
    p.dispatch(attempt(runId, noop, { taskId: 'low', priority: 0 }));
    p.dispatch(attempt(runId, noop, { taskId: 'high1', priority: 5 }));
    p.dispatch(attempt(runId, noop, { taskId: 'high2', priority: 5 }));
    p.dispatch(attempt(runId, noop, { taskId: 'top', priority: 9 }));
    expect(p.describe()).toEqual({
      name: 'local',
      labels: ['local'],
      capacity: 1,
      backend: 'local',
      running: 1,
      queued: 4,
    });
    await reporter.finishedOf(runId, 'low');
    expect(reporter.starts.map((s) => s.taskId)).toEqual(['first', 'top', 'high1', 'high2', 'low']);
  });

  it('retries a reporter that throws until the orchestrator answers', async () => {
    const { pool: p, reporter } = pool();
    reporter.failuresLeft = 3;
    const runId = nextRun();
    p.dispatch(attempt(runId, noop));
    const f = await reporter.finishedOf(runId);
    expect(f.result.exitCode).toBe(0);
    expect(reporter.starts).toHaveLength(1);
  });

  it('reports a queued attempt that is cancelled as finished without ever starting it', async () => {
    const { pool: p, reporter } = pool({ capacity: 1 });
    const runId = nextRun();
    p.dispatch(attempt(runId, noop, { taskId: 'first' }));
    p.dispatch(attempt(runId, noop, { taskId: 'queued' }));
    p.cancel({ runId, taskId: 'queued', attempt: 1, reason: 'run cancelled' });
    // A cancel that arrives before its dispatch keeps the dispatch from running.
    p.cancel({ runId, taskId: 'early', attempt: 1, reason: 'run cancelled' });
    p.dispatch(attempt(runId, noop, { taskId: 'early' }));
    p.dispatch(attempt(runId, noop, { taskId: 'last' }));
    const f = await reporter.finishedOf(runId, 'queued');
    await reporter.finishedOf(runId, 'last');
    expect(f.result).toMatchObject({ error: 'cancelled: run cancelled', retryable: false, snapshot: null });
    expect(reporter.starts.map((s) => s.taskId)).toEqual(['first', 'last']);
    expect(reporter.finishes.map((s) => s.taskId).sort()).toEqual(['first', 'last', 'queued']);
  });
});

describeBwrap('LocalPool running command agents in bubblewrap', () => {
  it('runs the agent with its prompt, snapshots what it wrote, and streams its output and usage', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const command =
      'printf "%s\\n" "$REIN_PROMPT" > out.txt; cat "$REIN_PROMPT_FILE"; echo "attempt $REIN_ATTEMPT of $REIN_TASK_ID"; ' +
      'echo \'REIN_USAGE {"tokens":120,"usd":0.25}\'; echo \'REIN_USAGE {"tokens":5}\'; echo done';
    p.dispatch(
      attempt(runId, agent(command), {
        prompt: 'Build {{ run.name }} ({{ run.labels.team }}), attempt {{ attempt }}',
      }),
    );
    const f = await reporter.finishedOf(runId);
    const prompt = 'Build demo-run (platform), attempt 1';
    expect(f.result).toMatchObject({ exitCode: 0, usage: { tokens: 125, usd: 0.25 } });
    expect(f.result.error).toBeUndefined();
    expect(f.result.summary).toBe(`${prompt}attempt 1 of t\ndone`);
    expect(f.result.diff).toEqual({ files: 1, insertions: 1, deletions: 0 });
    const snapshot = f.result.snapshot!;
    expect((await workspaces.readFile(runId, snapshot, 'out.txt'))?.toString()).toBe(`${prompt}\n`);
    // The prompt file lived outside the workspace and is gone with the attempt.
    expect((await workspaces.listFiles(runId, snapshot)).map((e) => e.path)).toEqual(['out.txt']);
    expect(existsSync(path.join(dataDir, 'attempts', runId))).toBe(false);

    const events = await transcriptOf(runId);
    expect(outputText(events)).toContain(`${prompt}attempt 1 of t\n`);
    expect(events.filter((e) => e.type === 'usage').map((e) => e.data)).toEqual([
      { tokens: 120, usd: 0.25, total: { tokens: 120, usd: 0.25 } },
      { tokens: 5, usd: 0, total: { tokens: 125, usd: 0.25 } },
    ]);
    expect(events.filter((e) => e.type === 'status').map((e) => e.data.status)).toEqual([
      'started',
      'prompt',
      'exited',
      'finished',
    ]);
    // What the agent got, whole; its workspace has no guidance files to add.
    expect(events.find((e) => e.data.status === 'prompt')?.data).toMatchObject({
      prompt,
      parts: 1,
      context: { enabled: false, found: [] },
    });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it('builds each task on its upstream snapshots: a three-task lineage', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('echo from-a > a.txt; echo wrote a'), { taskId: 'a' }));
    const a = await reporter.finishedOf(runId, 'a');
    p.dispatch(
      attempt(runId, agent('cat a.txt > b.txt; printf "%s" "$REIN_PROMPT" >> b.txt'), {
        taskId: 'b',
        prompt: 'after {{ upstream.a.summary }}',
        upstream: [{ task: 'a', snapshot: a.result.snapshot, summary: a.result.summary, exitCode: 0 }],
      }),
    );
    const b = await reporter.finishedOf(runId, 'b');
    expect(b.result.exitCode).toBe(0);
    p.dispatch(
      attempt(runId, agent('test -f a.txt && test -f b.txt && echo c > c.txt'), {
        taskId: 'c',
        upstream: [{ task: 'b', snapshot: b.result.snapshot, summary: b.result.summary, exitCode: 0 }],
      }),
    );
    const c = await reporter.finishedOf(runId, 'c');
    expect(c.result.exitCode).toBe(0);
    expect((await workspaces.listFiles(runId, c.result.snapshot!)).map((e) => e.path)).toEqual([
      'a.txt',
      'b.txt',
      'c.txt',
    ]);
    expect((await workspaces.readFile(runId, c.result.snapshot!, 'b.txt'))?.toString()).toBe(
      'from-a\nafter wrote a',
    );
  });

  it('reports a failing agent with its exit code and the tail of its output as the summary', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('echo working; echo "compile error in x.ts" >&2; exit 3')));
    const f = await reporter.finishedOf(runId);
    expect(f.result.exitCode).toBe(3);
    expect(f.result.summary).toBe('working\ncompile error in x.ts');
    expect(f.result.error).toBeUndefined();
    expect(f.result.snapshot).toMatch(/^[0-9a-f]{40}$/);
  });

  it('kills an agent that outlives its timeout and says why', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const t0 = Date.now();
    p.dispatch(attempt(runId, agent('echo begin; sleep 30'), { timeoutMs: 400 }));
    const f = await reporter.finishedOf(runId);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(f.result.error).toBe('killed: wall-clock limit 400 ms');
    expect(f.result.exitCode).not.toBe(0);
    expect(f.result.summary).toBe('begin');
    expect(f.result.snapshot).not.toBeNull();
  });

  it('cancels a running agent: its process tree is gone and the attempt is reported cancelled', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const marker = `rein-cancel-${randomBytes(6).toString('hex')}`;
    p.dispatch(attempt(runId, agent(`echo ready; sleep 60; : ${marker}`)));
    await eventually(
      () => processesWithMarker(marker).length > 0 && reporter.starts.some((s) => s.runId === runId),
      10_000,
      'the agent to run',
    );
    const t0 = Date.now();
    p.cancel({ runId, taskId: 't', attempt: 1, reason: 'run cancelled by alice' });
    const f = await reporter.finishedOf(runId, 't', 1, 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(processesWithMarker(marker)).toEqual([]);
    expect(f.result).toMatchObject({ error: 'cancelled: run cancelled by alice', retryable: false });
    expect(f.result.exitCode).not.toBe(0);
    expect(p.describe().running).toBe(0);
  });

  it('runs at most `capacity` attempts at once: the second starts when the first has finished', async () => {
    const { pool: p, reporter } = pool({ capacity: 1 });
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('sleep 0.3'), { taskId: 'one' }));
    p.dispatch(attempt(runId, agent('sleep 0.3'), { taskId: 'two' }));
    expect(p.describe()).toMatchObject({ running: 1, queued: 1 });
    const one = await reporter.finishedOf(runId, 'one');
    await reporter.finishedOf(runId, 'two');
    const twoStarted = reporter.starts.find((s) => s.taskId === 'two')!;
    expect(twoStarted.at).toBeGreaterThanOrEqual(one.at);
  });

  it('redacts secrets from the transcript and the summary, and fails at once on an unknown secret', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('echo "token is $API_TOKEN"', { secrets: ['API_TOKEN'] })));
    const f = await reporter.finishedOf(runId);
    expect(f.result.exitCode).toBe(0);
    expect(f.result.summary).toBe('token is [REDACTED:API_TOKEN]');
    const text = JSON.stringify(await transcriptOf(runId));
    expect(text).toContain('[REDACTED:API_TOKEN]');
    expect(text).not.toContain(secrets.API_TOKEN);

    p.dispatch(attempt(runId, agent('true', { secrets: ['API_TOKEN', 'DB_PASSWORD'] }), { taskId: 'u' }));
    const g = await reporter.finishedOf(runId, 'u');
    expect(g.result.error).toBe(
      "secret DB_PASSWORD declared by agent coder is not configured on the server: set it in the executor's environment",
    );
    expect(g.result.retryable).toBe(false);
  });

  it('runs test gates in the attempt workspace, describes the change, and hides gate leftovers from the next attempt', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const profile = agent('printf "hello\\nworld\\n" > greeting.txt', { secrets: ['API_TOKEN'] });
    p.dispatch(attempt(runId, profile));
    const f = await reporter.finishedOf(runId);
    const ref = {
      runId,
      taskId: 't',
      attempt: 1,
      agent: profile,
      snapshot: f.result.snapshot,
      timeoutMs: 10_000,
    };

    const pass = await p.runTestGate({
      ...ref,
      command: 'grep -q hello greeting.txt && echo "PASS $API_TOKEN"',
    });
    expect(pass).toMatchObject({ exitCode: 0, timedOut: false, output: 'PASS [REDACTED:API_TOKEN]\n' });
    const slow = await p.runTestGate({ ...ref, command: 'sleep 20', timeoutMs: 300 });
    expect(slow).toMatchObject({ timedOut: true, reason: 'killed: wall-clock limit 300 ms' });
    const fail = await p.runTestGate({
      ...ref,
      command: 'touch gate-leftover; echo missing >&2; test -f missing.txt',
    });
    expect(fail).toMatchObject({ exitCode: 1, timedOut: false, output: 'missing\n' });

    expect(await p.attemptChange({ runId, taskId: 't', attempt: 1, snapshot: f.result.snapshot })).toEqual({
      paths: ['greeting.txt'],
      insertions: 2,
      deletions: 0,
      addedLines: ['hello', 'world'],
      truncated: false,
    });
    const gone = '0'.repeat(40);
    expect(await p.snapshotsExist(runId, [f.result.snapshot!, gone])).toEqual([gone]);

    // The failing gate left a file; attempt 2 continues from attempt 1's snapshot, not from it.
    p.dispatch(attempt(runId, agent('test ! -e gate-leftover && test -f greeting.txt'), { attempt: 2 }));
    const second = await reporter.finishedOf(runId, 't', 2);
    expect(second.result.exitCode).toBe(0);
  });

  it('continues a dirtied workspace on retry, and starts it afresh when told to restart', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    p.dispatch(attempt(runId, agent('echo junk > junk.txt')));
    await reporter.finishedOf(runId);
    p.dispatch(attempt(runId, agent('test -f junk.txt'), { attempt: 2 }));
    expect((await reporter.finishedOf(runId, 't', 2)).result.exitCode).toBe(0);
    p.dispatch(attempt(runId, agent('test ! -e junk.txt'), { attempt: 3, restart: true }));
    const third = await reporter.finishedOf(runId, 't', 3);
    expect(third.result.exitCode).toBe(0);
    expect(await workspaces.listFiles(runId, third.result.snapshot!)).toEqual([]);
  });

  it('runs hooks around the agent; a failing afterCreate fails the attempt for good', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const hooks = {
      afterCreate: 'echo made > setup.txt',
      beforeRun: 'echo before >> setup.txt',
      timeoutMs: 5000,
    };
    p.dispatch(attempt(runId, agent('cat setup.txt', { hooks })));
    const f = await reporter.finishedOf(runId);
    expect(f.result).toMatchObject({ exitCode: 0, summary: 'made\nbefore' });
    const hookEvents = (await transcriptOf(runId)).filter((e) => e.type === 'hook');
    expect(hookEvents.map((e) => [e.data.hook, e.data.exitCode])).toEqual([
      ['afterCreate', 0],
      ['beforeRun', 0],
    ]);

    p.dispatch(
      attempt(runId, agent('true', { hooks: { afterCreate: 'echo no npm >&2; exit 7', timeoutMs: 5000 } }), {
        taskId: 'u',
      }),
    );
    const g = await reporter.finishedOf(runId, 'u');
    expect(g.result).toMatchObject({
      error: 'hook afterCreate failed: exit code 7',
      retryable: false,
      summary: 'no npm',
    });
  });

  it('interrupts running attempts on close, reported retryable, and waits for their processes', async () => {
    const { pool: p, reporter } = pool();
    const runId = nextRun();
    const marker = `rein-close-${randomBytes(6).toString('hex')}`;
    p.dispatch(attempt(runId, agent(`sleep 60; : ${marker}`)));
    await eventually(() => processesWithMarker(marker).length > 0, 10_000, 'the agent to run');
    await p.close();
    expect(processesWithMarker(marker)).toEqual([]);
    const f = await reporter.finishedOf(runId, 't', 1, 0);
    expect(f.result).toMatchObject({ error: 'interrupted: pool local is shutting down', retryable: true });
  });
});
