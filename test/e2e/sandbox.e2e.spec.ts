/**
 * Containment proven against a control (DESIGN.md "What runs where in tests"): the same probes
 * run on a server that sandboxes agents with bubblewrap, and on a control server started with
 * `--unsafe-no-sandbox`. Each probe must succeed on the control — so it really reaches the
 * host — and fail under the sandbox, with the host seeing no effect.
 *
 * The control must really run without a sandbox (`/readyz` says `sandbox: none`): a "control"
 * that is sandboxed too proves nothing, so its probes are expected to succeed, not skipped.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type ReinProcess, type RunViewBody, startRein } from '@rein/testing';
import { hostTargets, type HostTargets } from './host-targets.js';
import { runSpec, stateOf } from './specs.js';

jest.setTimeout(40_000);

const SECRET = 's3cr3t-value';
let sandboxed: ReinProcess;
let control: ReinProcess;
let host: HostTargets | undefined;
let hostDir: string;
let port: number;
let received: readonly string[];

beforeAll(async () => {
  host = await hostTargets('rein-e2e-sandbox-');
  ({ hostDir, port, received } = host);
  const env = { REIN_E2E_SECRET: SECRET };
  [sandboxed, control] = await Promise.all([
    startRein({ env }),
    startRein({ env, args: ['--unsafe-no-sandbox'] }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([sandboxed?.dispose(), control?.dispose()]);
  await host?.close();
});

/** One task per probe; each agent exits 0 only if its probe reached the host. */
function probes(dataDir: string): Record<string, unknown> {
  return runSpec({
    name: 'containment-probes',
    failFast: false,
    agents: {
      write: `echo pwned > ${hostDir}/written-$REIN_RUN_ID.txt`,
      connect: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo "hello-$REIN_RUN_ID" >&3'`,
      serverEnv: 'grep -qs REIN_E2E_SECRET= /proc/[0-9]*/environ',
      dataDir: `cat ${dataDir}/events.db > /dev/null`,
      home: 'ls /root > /dev/null',
    },
    tasks: ['write', 'connect', 'serverEnv', 'dataDir', 'home'].map((id) => ({
      id,
      agent: id,
      retries: { max: 0 },
    })),
  });
}

async function run(rein: ReinProcess, spec: Record<string, unknown>): Promise<RunViewBody> {
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  return rein.waitFor(r.body.runId, (v) => v.status !== 'running', 30_000);
}

function outcome(
  run: RunViewBody,
  task: string,
): { state: string; exitCode: number | null; summary: string | null } {
  const a = run.tasks.find((t) => t.id === task)!.attempts[0]!;
  return { state: stateOf(run, task), exitCode: a.exitCode, summary: a.summary };
}

describe('sandbox containment against a control', () => {
  let contained: RunViewBody;
  let uncontained: RunViewBody;

  beforeAll(async () => {
    [contained, uncontained] = await Promise.all([
      run(sandboxed, probes(sandboxed.dataDir)),
      run(control, probes(control.dataDir)),
    ]);
  }, 60_000);

  it('the sandboxed server uses bubblewrap; the control, started with --unsafe-no-sandbox, none', async () => {
    expect((await sandboxed.get('/readyz')).body.sandbox).toBe('bubblewrap');
    expect((await control.get('/readyz')).body.sandbox).toBe('none');
  });

  it.each(['write', 'connect', 'serverEnv', 'dataDir', 'home'])(
    'probe %s succeeds on the control',
    (task) => {
      expect(outcome(uncontained, task)).toEqual(
        expect.objectContaining({ state: 'succeeded', exitCode: 0 }),
      );
    },
  );

  it.each(['write', 'connect', 'serverEnv', 'dataDir', 'home'])('probe %s fails in the sandbox', (task) => {
    const o = outcome(contained, task);
    expect(o.state).toBe('failed');
    expect(o.exitCode).not.toBe(0);
  });

  it('a write the host can see: the sandboxed agent left no file', () => {
    expect(existsSync(join(hostDir, `written-${contained.runId}.txt`))).toBe(false);
  });

  it('a write the host can see: the control agent wrote its file', () => {
    expect(existsSync(join(hostDir, `written-${uncontained.runId}.txt`))).toBe(true);
  });

  it('a listener on the host loopback: no connection from the sandboxed agent arrived', () => {
    // Both runs have finished, so every connection their agents made has been accepted.
    expect(received.some((t) => t.includes(contained.runId))).toBe(false);
  });

  it('a listener on the host loopback: the control agent connection arrived', () => {
    expect(received.map((t) => t.trim())).toContain(`hello-${uncontained.runId}`);
  });
});

describe('secrets', () => {
  it("the server's environment is not the agent's; a declared secret is passed by name and redacted", async () => {
    const spec = runSpec({
      name: 'secrets',
      failFast: false,
      agents: {
        undeclared: 'test -n "$REIN_E2E_SECRET" && echo "leaked=$REIN_E2E_SECRET"',
        declared: {
          runtime: 'command',
          command: 'test -n "$REIN_E2E_SECRET" && echo "secret=$REIN_E2E_SECRET"',
          secrets: ['REIN_E2E_SECRET'],
        },
      },
      tasks: [
        { id: 'undeclared', agent: 'undeclared', retries: { max: 0 } },
        { id: 'declared', agent: 'declared', retries: { max: 0 } },
      ],
    });
    const done = await run(sandboxed, spec);
    expect(outcome(done, 'undeclared')).toEqual(expect.objectContaining({ state: 'failed', exitCode: 1 }));
    expect(outcome(done, 'declared')).toEqual(expect.objectContaining({ state: 'succeeded', exitCode: 0 }));
    const transcript = await sandboxed.get(`/v1/runs/${done.runId}/tasks/declared/attempts/1/events`);
    expect(transcript.status).toBe(200);
    expect(transcript.text).toContain('secret=[REDACTED:REIN_E2E_SECRET]');
    expect(transcript.text).not.toContain(SECRET);
    const events = await sandboxed.get(`/v1/runs/${done.runId}/events`);
    expect(events.text).not.toContain(SECRET);
    expect(JSON.stringify(done)).not.toContain(SECRET);
  });
});
