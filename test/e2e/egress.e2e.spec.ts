import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Server, createServer } from 'node:http';
import { type ReinProcess, startRein } from '@rein/testing';

/**
 * No network unless the agent profile allows hosts, and then only those, through
 * the egress proxy. The "internet" here is an HTTP server on the host's loopback.
 */
describe('agent egress through the allowlist proxy', () => {
  let rein: ReinProcess;
  let server: Server;
  let port = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('hello from the allowed host');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    rein = await startRein();
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    server?.close();
  });

  const runWith = async (allow: string[], path: string) => {
    const submitted = await rein.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: `egress-${path}` },
      spec: {
        defaults: { agent: 'net', retries: { max: 0 } },
        agents: {
          net: {
            runtime: 'command',
            // The proxy env vars point at the forwarder inside the sandbox; 127.0.0.1 here is the host.
            command: `curl -fsS --max-time 5 --noproxy '' ${allow.length > 0 ? '-x "$HTTP_PROXY"' : ''} http://127.0.0.1:${port}/${path}`,
            network: { allow },
          },
        },
        tasks: [{ id: 'fetch', prompt: 'p' }],
      },
    });
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 30_000);
    const transcript = await rein.get(`/v1/runs/${submitted.body.runId}/tasks/fetch/attempts/1/events`);
    return { done, transcript: transcript.body.events as { type: string; data: Record<string, unknown> }[] };
  };

  it('reaches an allowed host through the proxy, and records the decision', async () => {
    const { done, transcript } = await runWith([`127.0.0.1:${port}`], 'allowed');
    expect(done.status).toBe('succeeded');
    expect(done.tasks[0]!.attempts[0]!.summary).toContain('hello from the allowed host');
    expect(seen).toContain('/allowed');
    expect(transcript.find((e) => e.data.status === 'egress')?.data).toMatchObject({
      allowed: true,
      host: '127.0.0.1',
      port,
    });
  }, 60_000);

  it('refuses a host the profile does not list, and the host sees nothing', async () => {
    const { done, transcript } = await runWith([`127.0.0.1:${port + 1}`], 'refused');
    expect(done.status).toBe('failed');
    expect(seen).not.toContain('/refused');
    expect(transcript.find((e) => e.data.status === 'egress')?.data).toMatchObject({ allowed: false });
  }, 60_000);

  it('has no network at all without an allowlist', async () => {
    const { done } = await runWith([], 'none');
    expect(done.status).toBe('failed');
    expect(seen).not.toContain('/none');
  }, 60_000);
});
