import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedServer, type ServiceName, startEmbedded } from '../../apps/rein/src/embedded.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('each service boots on its own and answers /healthz and /readyz', () => {
  for (const service of ['orchestrator', 'executor', 'verifier', 'audit'] as ServiceName[]) {
    it(service, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), `rein-boot-${service}-`));
      dirs.push(dataDir);
      const lines: string[] = [];
      let server: EmbeddedServer | undefined;
      try {
        server = await startEmbedded({
          services: [service],
          port: await freePort(),
          dataDir,
          say: (l) => lines.push(l),
        });
        const health = await fetch(`${server.url}/healthz`);
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ status: 'ok' });
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({
          status: 'ready',
          sandbox: service === 'executor' ? 'bubblewrap' : 'none',
          transport: 'in-process',
        });
        expect(lines.join('\n')).toContain(`services: ${service}`);
      } finally {
        await server?.close();
      }
    });
  }
});
