/**
 * The escape suite (DESIGN.md "Sandboxes"), through the real server: every probe
 * is an agent `command` in a run on a server that sandboxes agents with bubblewrap, and — where
 * that is safe and means something — the same probe in a run on a control server started with
 * `--unsafe-no-sandbox`, where it must reach the host. A contained probe is reported as a failed
 * attempt with its reason (or, when the agent exits 0, its effect is absent), and the server stays
 * healthy. Test names say why a probe has no control.
 *
 * Probes that only read or try to write run in one run per server; the resource probes (fork
 * bomb, 10 GB of memory, a 10 GB file, the deadline) run only in the sandboxed server, beside it.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, processesWithMarker, type ReinProcess, type RunViewBody, startRein } from '@rein/testing';
import { hostTargets, type HostTargets } from './host-targets.js';
import { runSpec, stateOf } from './specs.js';

jest.setTimeout(30_000);

const SECRET_NAME = 'REIN_ESCAPE_SECRET';
const SECRET = `escape-${randomBytes(8).toString('hex')}`;
const LOOT = `loot-${randomBytes(8).toString('hex')}`;
// Room for every probe at once (at most 20 attempts per server): none waits in the pool's queue,
// where the orchestrator's startToClose timer could run out before the deadline probe even starts.
const POOLS = JSON.stringify([{ name: 'local', labels: ['local'], capacity: 24 }]);
const NO_RETRY = { max: 0 };

let sandboxed: ReinProcess;
let control: ReinProcess;
let host: HostTargets | undefined;
let hostDir: string;
let port = 0;
let received: readonly string[] = [];
/** Pids of processes these tests caused and found alive at the end (the unsafe control may leave some). */
const leftovers = new Set<number>();

interface Victim {
  readonly runId: string;
  readonly workspace: string;
  release(): Promise<void>;
}

interface Probes {
  readonly isolation: RunViewBody;
  readonly background: Handshake;
}

let box: Probes & {
  readonly limits: RunViewBody;
  readonly deadlineSeen: boolean;
  /** What the sandboxed server says enforces each limit on this host (/readyz). */
  readonly enforced: Record<string, string>;
};
let open: Probes;
const deadlineMarker = `rein-deadline-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  host = await hostTargets('rein-e2e-escape-');
  ({ hostDir, port, received } = host);

  const env = { [SECRET_NAME]: SECRET };
  [sandboxed, control] = await Promise.all([
    startRein({ env, args: ['--pools', POOLS] }),
    startRein({ env, args: ['--pools', POOLS, '--unsafe-no-sandbox'] }),
  ]);

  const [boxVictim, openVictim] = await Promise.all([victim(sandboxed), victim(control)]);
  const limitsRun = submit(sandboxed, limitProbes());
  const [boxIsolation, openIsolation, limits, deadlineSeen] = await Promise.all([
    runIsolation(sandboxed, boxVictim),
    runIsolation(control, openVictim),
    limitsRun.then((runId) => finished(sandboxed, runId)),
    // Seen alive while the attempt ran: the later "gone" is the kill's doing, not a probe that never ran.
    pollUntil(
      () => (processesWithMarker(deadlineMarker).length > 0 ? true : undefined),
      DEADLINE_MS + 5000,
      () => `no process with ${deadlineMarker} appeared`,
    ).catch(() => false),
  ]);
  const ready = await sandboxed.get('/readyz');
  const enforced = (ready.body as { limits?: Record<string, string> }).limits ?? {};
  box = { ...boxIsolation, limits, deadlineSeen, enforced };
  open = openIsolation;
}, 75_000);

afterAll(async () => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await Promise.all([sandboxed?.dispose(), control?.dispose()]);
  await host?.close();
});

// ---------- the runs ----------

async function submit(server: ReinProcess, spec: Record<string, unknown>): Promise<string> {
  const r = await server.submit(spec);
  if (r.status !== 201) throw new Error(`submit answered ${r.status}: ${r.text}`);
  return (r.body as RunViewBody).runId;
}

function finished(server: ReinProcess, runId: string): Promise<RunViewBody> {
  return server.waitFor(runId, (v) => v.status !== 'running', 45_000);
}

/**
 * A run whose workspace holds a file the probes then try to read from another run. It stays
 * running until released, so no workspace cleanup policy can remove the file under the probes.
 */
async function victim(server: ReinProcess): Promise<Victim> {
  const runId = await submit(
    server,
    runSpec({
      name: 'victim',
      agents: { victim: `echo ${LOOT} > loot.txt; until [ -e release ]; do sleep 0.05; done` },
      tasks: [{ id: 'victim', retries: NO_RETRY, timeouts: { startToCloseMs: 40_000 } }],
    }),
  );
  const workspace = join(executorDir(server), 'runs', runId, 'workspaces', 'victim');
  // Checked on the host first, so a read that fails later is the sandbox's doing, not a missing file.
  await pollUntil(
    () =>
      existsSync(join(workspace, 'loot.txt')) &&
      readFileSync(join(workspace, 'loot.txt'), 'utf8').trim() === LOOT
        ? true
        : undefined,
    15_000,
    () => `the victim run ${runId} never wrote ${workspace}/loot.txt (are workspaces elsewhere?)`,
  );
  return {
    runId,
    workspace,
    release: async () => {
      writeFileSync(join(workspace, 'release'), '');
      const done = await finished(server, runId);
      if (done.status !== 'succeeded')
        throw new Error(`the victim run ${done.status}: ${JSON.stringify(done)}`);
    },
  };
}

/**
 * Where the server keeps runs' repositories and workspaces: `rein up` puts them under the data
 * dir when the sandbox uid can traverse it, which `traversableTempDir` makes sure of.
 */
function executorDir(server: ReinProcess): string {
  return join(server.dataDir, 'executor');
}

const BACKGROUND_TIMEOUT_MS = 20_000;

/** The isolation probes; each agent exits 0 only if it reached what it must not. */
function isolationProbes(server: ReinProcess, victimWs: string, token: string): Record<string, unknown> {
  // Prints what it read of the secret and of the agent's own REIN_TASK_ID (which shows the read
  // itself worked), and exits 0 only if the secret was there.
  const env = (cmd: string): string =>
    `${cmd} | tr '\\0' '\\n' | grep -E '^(${SECRET_NAME}|REIN_TASK_ID)=' | sort -u | tee found; grep -q '^${SECRET_NAME}=' found`;
  const events = join(server.dataDir, 'events.db');
  const repo = `${executorDir(server)}/runs/$REIN_RUN_ID/repo.git`;
  const git = 'git -c user.name=agent -c user.email=agent@example.invalid';
  return runSpec({
    name: 'escape-isolation',
    failFast: false,
    agents: {
      writeOutside: `echo escaped > ${hostDir}/written-$REIN_RUN_ID`,
      envServerPid: env(`cat /proc/${server.pid}/environ`),
      envAnyProcess: env('cat /proc/[0-9]*/environ 2>/dev/null'),
      envPid1: env('cat /proc/1/environ'),
      envSelf: env('cat /proc/self/environ'),
      envCommand: env('env'),
      dataDir: `ls -d ${events} && head -c 15 ${events}`,
      otherWorkspace: `cat ${victimWs}/loot.txt`,
      root: 'ls -Ad /root && ls -A /root | head -n 3',
      connect: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo "hello-$REIN_RUN_ID" >&3'`,
      original: 'echo original > original.txt',
      rewrite: [
        `R=${repo}`,
        'echo agent > agent.txt',
        // (a) a repository of its own in the workspace, (b) a .git file pointing at the run's
        // repository, (c) the run's repository by path: move an earlier snapshot's ref and the
        // ref the next snapshot takes as its parent.
        `${git} init -q . && ${git} add -A && ${git} commit -qm 'history of my own'`,
        `mkdir planted && printf 'gitdir: %s\\n' "$R" > planted/.git`,
        `evil=$(${git} --git-dir="$R" commit-tree "$(${git} --git-dir="$R" mktree </dev/null)" -m rewritten) &&`,
        `${git} --git-dir="$R" update-ref refs/rein/original/attempt-1 "$evil" &&`,
        `${git} --git-dir="$R" update-ref refs/rein/rewrite/head "$evil" && echo "rewrote history: $evil"`,
      ].join('\n'),
      background: {
        runtime: 'command',
        // The marker is built at run time from TOKEN, so only the detached process carries it;
        // the agent exits 0 once the test, having seen that process alive, drops `go`.
        command:
          'setsid nohup sh -c "echo started; sleep 300; : rein-bg-$TOKEN" & until [ -e go ]; do sleep 0.05; done; exit 0',
        env: { TOKEN: token },
      },
    },
    tasks: [
      ...[
        'writeOutside',
        'envServerPid',
        'envAnyProcess',
        'envPid1',
        'envSelf',
        'envCommand',
        'dataDir',
        'otherWorkspace',
        'root',
        'connect',
        'original',
      ].map((id) => ({ id, agent: id, retries: NO_RETRY })),
      { id: 'rewrite', agent: 'rewrite', dependsOn: ['original'], retries: NO_RETRY },
      {
        id: 'background',
        agent: 'background',
        retries: NO_RETRY,
        timeouts: { startToCloseMs: BACKGROUND_TIMEOUT_MS },
      },
    ],
  });
}

interface Handshake {
  readonly marker: string;
  /** Whether the detached process was seen alive on the host before the agent was let go. */
  readonly seenAlive: boolean;
}

async function runIsolation(
  server: ReinProcess,
  v: Victim,
): Promise<{ isolation: RunViewBody; background: Handshake }> {
  const token = randomBytes(6).toString('hex');
  const marker = `rein-bg-${token}`;
  const runId = await submit(server, isolationProbes(server, v.workspace, token));
  const handshake = pollUntil(
    () => (processesWithMarker(marker).length > 0 ? true : undefined),
    BACKGROUND_TIMEOUT_MS - 5000,
    () => `no process with ${marker} appeared`,
  ).then(
    () => true,
    () => false,
  );
  const released = handshake.then((seen) => {
    writeFileSync(join(executorDir(server), 'runs', runId, 'workspaces', 'background', 'go'), '');
    return seen;
  });
  const [isolation, seenAlive] = await Promise.all([finished(server, runId), released]);
  await v.release();
  return { isolation, background: { marker, seenAlive } };
}

const MiB = 1024 * 1024;
const DEADLINE_MS = 10_000;
const TEN_GB = 10 * 1024 * MiB;

/** Resource probes, for the sandboxed server only (see the test names for why no control). */
function limitProbes(): Record<string, unknown> {
  // The same write with only the size changed; it prints how many bytes landed, then cleans up.
  const write = (bytes: number): string =>
    `head -c ${bytes} /dev/zero > big; s=$?; echo "wrote $(wc -c < big) bytes"; rm -f big; exit $s`;
  // 64 MiB strings, each really written, kept alive: the size grows until something stops it.
  const allocate = (chunks: number): string =>
    `perl -e 'my @keep; push @keep, "a" x $ARGV[0] for 1..$ARGV[1]; print "allocated\\n"' ${64 * MiB} ${chunks}`;
  return runSpec({
    name: 'escape-limits',
    failFast: false,
    agents: {
      // A real fork bomb; the top shell then exits 3, so the attempt ends without the deadline.
      forkBomb: {
        runtime: 'command',
        command: 'bomb() { bomb | bomb & }; bomb; sleep 1; exit 3',
        limits: { pids: 64 },
      },
      memory: { runtime: 'command', command: allocate(TEN_GB / (64 * MiB)), limits: { memoryMb: 256 } },
      memorySmall: { runtime: 'command', command: allocate(1), limits: { memoryMb: 256 } },
      fileSize: { runtime: 'command', command: write(TEN_GB), limits: { fileSizeMb: 64 } },
      fileSizeSmall: { runtime: 'command', command: write(32 * MiB), limits: { fileSizeMb: 64 } },
      deadline: `perl -e 'sleep 60' ${deadlineMarker}`,
    },
    tasks: [
      ...['forkBomb', 'memory', 'memorySmall', 'fileSize', 'fileSizeSmall'].map((id) => ({
        id,
        agent: id,
        retries: NO_RETRY,
      })),
      // The clock runs from dispatch, and on a loaded machine (two servers starting some 40
      // attempts at once) an attempt may take seconds to start: 10 s leaves the agent time to be
      // seen alive however slow the start, which is what the test needs before the kill.
      { id: 'deadline', agent: 'deadline', retries: NO_RETRY, timeouts: { startToCloseMs: DEADLINE_MS } },
    ],
  });
}

// ---------- reading the outcome ----------

interface Outcome {
  readonly state: string;
  readonly exitCode: number | null;
  readonly summary: string;
  readonly reason: string;
  readonly snapshot: string | null;
}

function outcome(run: RunViewBody, task: string): Outcome {
  const t = run.tasks.find((x) => x.id === task);
  const a = t?.attempts[0];
  if (!t || !a) throw new Error(`task ${task} has no attempt: ${JSON.stringify(t)}`);
  return {
    state: stateOf(run, task),
    exitCode: a.exitCode,
    summary: a.summary ?? '',
    reason: a.reason ?? t.reason ?? '',
    snapshot: a.snapshot,
  };
}

/** The reason a plain non-zero exit gets: the probe's own failure, not a limit or a kill. */
const EXITED = /^agent exited with code [1-9]\d*/;

function expectContained(run: RunViewBody, task: string, reason: RegExp): Outcome {
  const o = outcome(run, task);
  expect({ task, state: o.state, reason: o.reason }).toEqual({
    task,
    state: 'failed',
    reason: expect.stringMatching(reason),
  });
  return o;
}

function expectReached(run: RunViewBody, task: string): Outcome {
  const o = outcome(run, task);
  expect({ task, state: o.state, exitCode: o.exitCode }).toEqual({ task, state: 'succeeded', exitCode: 0 });
  return o;
}

function git(server: ReinProcess, runId: string, ...args: string[]): string {
  return execFileSync('git', ['--git-dir', join(executorDir(server), 'runs', runId, 'repo.git'), ...args], {
    encoding: 'utf8',
  }).trim();
}

/** The commit the task started from, as the executor recorded it in the attempt's transcript. */
async function startCommitOf(server: ReinProcess, runId: string, task: string): Promise<string> {
  const r = await server.get(`/v1/runs/${runId}/tasks/${task}/attempts/1/events`);
  expect(r.status).toBe(200);
  const events = (r.body as { events: { data: Record<string, unknown> }[] }).events;
  const started = events.find((e) => e.data.status === 'started');
  const commit = started?.data.startCommit;
  if (typeof commit !== 'string')
    throw new Error(`no startCommit in the transcript: ${r.text.slice(0, 2000)}`);
  return commit;
}

/**
 * Which controllers accept a child cgroup with a limit written, probed here independently of
 * the server's own code (the test's second opinion on the /readyz report).
 */
function cgroupControllers(): { version: string; pids: boolean; memory: boolean; cpu: boolean } {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of (m[1] ?? '').split(',')) own.set(c, m[2] ?? '/');
  }
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const limitFile = {
    pids: 'pids.max',
    memory: v2 ? 'memory.max' : 'memory.limit_in_bytes',
    cpu: v2 ? 'cpu.max' : 'cpu.cfs_quota_us',
  };
  const works = (controller: 'pids' | 'memory' | 'cpu'): boolean => {
    const parent = v2
      ? join('/sys/fs/cgroup', own.get('') ?? '/')
      : join('/sys/fs/cgroup', controller, own.get(controller) ?? '/');
    const dir = join(parent, `rein-escape-probe-${randomBytes(4).toString('hex')}`);
    try {
      mkdirSync(dir);
    } catch {
      return false;
    }
    try {
      const value =
        controller === 'pids'
          ? '64'
          : controller === 'memory'
            ? String(256 * MiB)
            : v2
              ? '100000 100000'
              : '100000';
      writeFileSync(join(dir, limitFile[controller]), value);
      return true;
    } catch {
      return false;
    } finally {
      rmdirSync(dir);
    }
  };
  return {
    version: v2 ? 'cgroup-v2' : 'cgroup-v1',
    pids: works('pids'),
    memory: works('memory'),
    cpu: works('cpu'),
  };
}

/**
 * Whether the service may make a run cgroup here: NoSandbox's tree kill relies on it (the
 * processes of any of the run's cgroups are killed).
 */
const HOST_CGROUPS = cgroupControllers();
const CGROUP_WRITABLE = HOST_CGROUPS.pids || HOST_CGROUPS.memory || HOST_CGROUPS.cpu;

// ---------- the suite ----------

describe('the servers', () => {
  it('the sandboxed server uses bubblewrap; the control, started with --unsafe-no-sandbox, none', async () => {
    expect((await sandboxed.get('/readyz')).body.sandbox).toBe('bubblewrap');
    expect((await control.get('/readyz')).body.sandbox).toBe('none');
  });
});

describe('1. write outside the workspace', () => {
  it('sandboxed: the attempt fails and the host dir holds no file', () => {
    expectContained(box.isolation, 'writeOutside', EXITED);
    expect(existsSync(join(hostDir, `written-${box.isolation.runId}`))).toBe(false);
  });

  it('control: the agent wrote the file the host sees', () => {
    expectReached(open.isolation, 'writeOutside');
    expect(readFileSync(join(hostDir, `written-${open.isolation.runId}`), 'utf8')).toBe('escaped\n');
  });
});

describe("2. read the service's environment", () => {
  it("sandboxed: the server's process (/proc/<server pid>/environ) and every /proc/*/environ hold no secret", () => {
    for (const task of ['envServerPid', 'envAnyProcess']) {
      const o = expectContained(box.isolation, task, EXITED);
      expect(o.summary).not.toContain(SECRET);
    }
  });

  it("control: /proc/<server pid>/environ and /proc/*/environ show the server's secret", () => {
    for (const task of ['envServerPid', 'envAnyProcess']) {
      expect(expectReached(open.isolation, task).summary).toContain(`${SECRET_NAME}=${SECRET}`);
    }
  });

  it("sandboxed: /proc/1/environ, /proc/self/environ and `env` show the agent's own variables, not the server's secret (no control where it succeeds: neither server passes its environment to an agent's own process, and outside a pid namespace /proc/1 is the host's init, not the server)", () => {
    for (const task of ['envPid1', 'envSelf', 'envCommand']) {
      const o = expectContained(box.isolation, task, EXITED);
      expect({ task, read: o.summary.includes(`REIN_TASK_ID=${task}`) }).toEqual({ task, read: true });
      expect(o.summary).not.toContain(SECRET);
    }
  });

  it('control, asserted as it is: /proc/self/environ and `env` lack the secret there too; /proc/1/environ is the host init', () => {
    for (const task of ['envSelf', 'envCommand']) {
      const o = outcome(open.isolation, task);
      expect({ task, state: o.state, read: o.summary.includes(`REIN_TASK_ID=${task}`) }).toEqual({
        task,
        state: 'failed',
        read: true,
      });
    }
    const pid1 = outcome(open.isolation, 'envPid1');
    expect(pid1.state).toBe('failed');
    expect(pid1.summary).not.toContain(SECRET);
  });

  it('no secret anywhere in the sandboxed run view or its event log', async () => {
    expect(JSON.stringify(box.isolation)).not.toContain(SECRET);
    expect((await sandboxed.get(`/v1/runs/${box.isolation.runId}/events`)).text).not.toContain(SECRET);
  });
});

describe("3. read the server's data dir", () => {
  it('sandboxed: the event store path does not exist for the agent', () => {
    const o = expectContained(box.isolation, 'dataDir', EXITED);
    expect(o.summary).toContain('No such file or directory');
    expect(o.summary).not.toContain('SQLite format 3');
  });

  it('control: the agent reads the event store', () => {
    expect(expectReached(open.isolation, 'dataDir').summary).toContain('SQLite format 3');
  });

  it("sandboxed: another run's workspace does not exist for the agent", () => {
    const o = expectContained(box.isolation, 'otherWorkspace', EXITED);
    expect(o.summary).toContain('No such file or directory');
    expect(o.summary).not.toContain(LOOT);
  });

  it("control: the agent reads another run's workspace", () => {
    expect(expectReached(open.isolation, 'otherWorkspace').summary).toContain(LOOT);
  });
});

describe('4. read /root', () => {
  it('sandboxed: /root does not exist for the agent', () => {
    const o = expectContained(box.isolation, 'root', EXITED);
    expect(o.summary).toContain('No such file or directory');
  });

  it('control: the agent lists /root', () => {
    expect(expectReached(open.isolation, 'root').summary).toContain('/root');
  });
});

describe("5. rewrite the workspace's snapshot history", () => {
  it('sandboxed: the run repository is out of reach; the snapshot is a normal commit on the task start', async () => {
    const { runId } = box.isolation;
    const o = expectContained(box.isolation, 'rewrite', EXITED);
    expect(o.summary).not.toContain('rewrote history');
    const snapshot = o.snapshot;
    if (snapshot === null) throw new Error('the failed attempt recorded no snapshot');
    const start = await startCommitOf(sandboxed, runId, 'rewrite');
    // One parent, the start: neither the agent's own `git commit` nor a moved ref is in its lineage.
    expect(git(sandboxed, runId, 'rev-list', '--parents', '-n', '1', snapshot).split(' ')).toEqual([
      snapshot,
      start,
    ]);
    expect(git(sandboxed, runId, 'log', '-1', '--format=%B', snapshot)).toContain(`rein-start: ${start}`);
    const paths = git(sandboxed, runId, 'ls-tree', '-r', '--name-only', snapshot).split('\n');
    expect(paths).toContain('agent.txt'); // the attempt ran and its work was kept…
    expect(paths.filter((p) => p.split('/').includes('.git'))).toEqual([]); // …its .git entries were not
    expect(git(sandboxed, runId, 'log', '--all', '--format=%s')).not.toMatch(/history of my own|rewritten/);
  });

  it('sandboxed: the earlier snapshot is unchanged in the repository, the run view and the replay', async () => {
    const { runId } = box.isolation;
    const earlier = expectReached(box.isolation, 'original').snapshot;
    if (earlier === null) throw new Error('the original attempt recorded no snapshot');
    expect(git(sandboxed, runId, 'rev-parse', 'refs/rein/original/attempt-1')).toBe(earlier);
    expect(git(sandboxed, runId, 'show', `${earlier}:original.txt`)).toBe('original');
    const log = await sandboxed.get(`/v1/runs/${runId}/events`);
    const events = (log.body as { events: { seq: number; type: string; taskId?: string }[] }).events;
    const seq = events.find((e) => e.type === 'AttemptFinished' && e.taskId === 'original')?.seq;
    if (seq === undefined) throw new Error(`no AttemptFinished for original: ${log.text.slice(0, 2000)}`);
    const replay = await sandboxed.get(`/v1/runs/${runId}/replay?at=${seq}`);
    expect(replay.status).toBe(200);
    expect(outcome(replay.body as RunViewBody, 'original').snapshot).toBe(earlier);
    const now = await sandboxed.get(`/v1/runs/${runId}`);
    expect(outcome(now.body as RunViewBody, 'original').snapshot).toBe(earlier);
  });

  it("control: the agent rewrote the run's repository: the earlier snapshot's ref moved, the next snapshot's parent is not the start", async () => {
    const { runId } = open.isolation;
    const o = expectReached(open.isolation, 'rewrite');
    expect(o.summary).toContain('rewrote history');
    const earlier = outcome(open.isolation, 'original').snapshot;
    if (earlier === null || o.snapshot === null) throw new Error('the control attempts recorded no snapshot');
    expect(git(control, runId, 'rev-parse', 'refs/rein/original/attempt-1')).not.toBe(earlier);
    expect(git(control, runId, 'log', '--all', '--format=%s')).toMatch(/rewritten/);
    const start = await startCommitOf(control, runId, 'rewrite');
    const [, parent] = git(control, runId, 'rev-list', '--parents', '-n', '1', o.snapshot).split(' ');
    expect(parent).not.toBe(start);
  });
});

describe('6. connect to a listener on the host loopback', () => {
  it('sandboxed: the attempt fails and no connection from it arrived', () => {
    expectContained(box.isolation, 'connect', EXITED);
    // Both runs have finished, so every connection their agents made has been accepted.
    expect(received.some((t) => t.includes(box.isolation.runId))).toBe(false);
  });

  it('control: the connection arrived', () => {
    expectReached(open.isolation, 'connect');
    expect(received.map((t) => t.trim())).toContain(`hello-${open.isolation.runId}`);
  });
});

/**
 * The reason each limit gives depends on what enforces it here, which the server reports; the
 * layout differs between machines of one kind, so the tests read the report instead of assuming
 * one, check the report against the host, and say on stderr what they could not check.
 */
const PIDS_REASON: Record<string, RegExp> = {
  'cgroup-v1': /^process limit 64 reached \(\d+ forks refused\)/,
  'cgroup-v2': /^process limit 64 reached \(\d+ forks refused\)/,
  rlimit: /^process limit 64 reached \(forks refused by RLIMIT_NPROC\)/,
};
const MEMORY_REASON: Record<string, RegExp> = {
  'cgroup-v1': /^killed: memory limit 256 MB/,
  'cgroup-v2': /^killed: memory limit 256 MB/,
  rlimit: /^memory limit 256 MB reached \(allocation refused by RLIMIT_AS\)/,
};

function notChecked(what: string): void {
  process.stderr.write(`escape suite: NOT CHECKED on this host: ${what}\n`);
}

describe('what enforces the limits here, as the server reports it', () => {
  it('/readyz names a mechanism for every limit, and each attempt has its own uid (the server runs as root)', () => {
    for (const limit of ['pids', 'memory', 'cpu', 'fileSize', 'cpuShare']) {
      expect({ limit, by: box.enforced[limit] }).toEqual({
        limit,
        by: expect.stringMatching(/^(cgroup-v1|cgroup-v2|rlimit|none)$/),
      });
    }
    expect(box.enforced.uids).toBe(process.getuid?.() === 0 ? 'per-attempt' : 'shared');
  });

  it('the report matches the host: a cgroup is named exactly when this host lets the service make one', () => {
    const probe = HOST_CGROUPS;
    expect({ pids: box.enforced.pids, memory: box.enforced.memory, cpuShare: box.enforced.cpuShare }).toEqual(
      {
        pids: probe.pids ? probe.version : 'rlimit',
        memory: probe.memory ? probe.version : 'rlimit',
        cpuShare: probe.cpu ? probe.version : 'none',
      },
    );
  });
});

describe('7–10. resource limits (sandboxed server only)', () => {
  it('a fork bomb stops at limits.pids 64, with the reason of the mechanism the server reports (no control: unbounded it would fill a process table shared with other work, and the unsafe server applies the same pids cgroup, so it would prove nothing)', () => {
    const by = box.enforced.pids ?? 'none';
    const reason = PIDS_REASON[by];
    if (!reason) {
      notChecked(`limits.pids (the server reports "${by}"): the fork bomb is not bounded here`);
      expect(by).toBe('none');
      return;
    }
    expectContained(box.limits, 'forkBomb', reason);
  });

  it('10 GB of memory is stopped at limits.memoryMb 256, with the reason of the mechanism the server reports (no 10 GB control: it would exhaust this shared machine)', () => {
    const by = box.enforced.memory ?? 'none';
    const reason = MEMORY_REASON[by];
    if (!reason) {
      notChecked(`limits.memoryMb (the server reports "${by}")`);
      expect(by).toBe('none');
      return;
    }
    const o = expectContained(box.limits, 'memory', reason);
    expect(o.summary).not.toContain('allocated');
  });

  it('the limit is the cause: 64 MB under the same 256 MB limit is allocated', () => {
    expect(expectReached(box.limits, 'memorySmall').summary).toContain('allocated');
  });

  it('a 10 GB file stops at limits.fileSizeMb 64 (no 10 GB control: it would fill a disk shared with other work)', () => {
    const o = expectContained(box.limits, 'fileSize', /file size limit 64 MB/);
    expect(o.summary).toContain(`wrote ${64 * MiB} bytes`);
  });

  it('the limit is the cause: a 32 MB file under the same 64 MB limit is written', () => {
    expect(expectReached(box.limits, 'fileSizeSmall').summary).toContain(`wrote ${32 * MiB} bytes`);
  });

  it('running past timeouts.startToCloseMs 10000 fails with the timeout, and the executor killed the process (no control: the unsafe server enforces the deadline the same way, so it proves nothing; the process is seen alive, then gone)', async () => {
    const { runId } = box.limits;
    expectContained(box.limits, 'deadline', /^timed out after startToCloseMs \(10000 ms\)/);
    expect(box.deadlineSeen).toBe(true);
    // The orchestrator's timer (from dispatch) usually fires before the executor's wall clock
    // (from the agent's start, after the workspace is ready) and cancels the attempt; either
    // way the executor kills the tree, and writes its account of the exit once the kill is done.
    const exited = await pollUntil(
      async () => {
        const r = await sandboxed.get(`/v1/runs/${runId}/tasks/deadline/attempts/1/events`);
        const events = (r.body as { events?: { data: Record<string, unknown> }[] }).events ?? [];
        return events.find((e) => e.data.status === 'exited')?.data;
      },
      10_000,
      () => 'the deadline attempt transcript has no exited event',
    );
    expect(exited.reason).toMatch(/^killed: (wall-clock limit 10000 ms|cancelled)$/);
    expect(processesWithMarker(deadlineMarker)).toEqual([]);
  });
});

describe('11. leave a background process behind', () => {
  it('sandboxed: the detached process, seen alive while the agent ran, is gone once the attempt ends', () => {
    expect(box.background.seenAlive).toBe(true);
    expectReached(box.isolation, 'background');
    expect(processesWithMarker(box.background.marker)).toEqual([]);
  });

  it(`control: the detached process ${CGROUP_WRITABLE ? 'is also killed (this host lets NoSandbox use a pids/memory cgroup)' : 'survives (no writable cgroup here: NoSandbox cannot find it)'}`, () => {
    expect(open.background.seenAlive).toBe(true);
    expectReached(open.isolation, 'background');
    const survivors = processesWithMarker(open.background.marker);
    survivors.forEach((pid) => leftovers.add(pid));
    expect(survivors.length > 0).toBe(!CGROUP_WRITABLE);
  });
});

describe('the service stays healthy', () => {
  it('after every probe: /healthz 200, /readyz 200, and a following run succeeds', async () => {
    expect((await sandboxed.get('/healthz')).status).toBe(200);
    expect((await sandboxed.get('/readyz')).status).toBe(200);
    const runId = await submit(
      sandboxed,
      runSpec({ name: 'after-escapes', agents: { ok: 'echo fine > fine.txt' }, tasks: [{ id: 'ok' }] }),
    );
    const done = await finished(sandboxed, runId);
    expect(expectReached(done, 'ok').snapshot).not.toBeNull();
    expect(done.status).toBe('succeeded');
  });
});
