import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { traversableTempDir } from '@rein/testing';

/**
 * What an agent would reach on the host if its sandbox let it: a world-writable directory (so a
 * sandboxed write that fails there fails because the path is not visible, not for permissions)
 * and a TCP listener on the host loopback that keeps what each connection sent.
 */
export interface HostTargets {
  readonly hostDir: string;
  readonly port: number;
  /** What each closed connection to `port` sent, in the order they closed. */
  readonly received: readonly string[];
  close(): Promise<void>;
}

export async function hostTargets(prefix: string): Promise<HostTargets> {
  const work = traversableTempDir(prefix);
  const hostDir = join(work, 'host-visible');
  mkdirSync(hostDir);
  chmodSync(hostDir, 0o777);
  const received: string[] = [];
  const listener = createServer((socket) => {
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => received.push(text));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((ok) => listener.listen(0, '127.0.0.1', ok));
  const address = listener.address();
  return {
    hostDir,
    port: typeof address === 'object' && address ? address.port : 0,
    received,
    close: async () => {
      await new Promise((ok) => listener.close(ok));
      rmSync(work, { recursive: true, force: true });
    },
  };
}
