import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EgressDecision, SandboxError } from '../sandbox.port.js';
import { parseAllowlist } from './allowlist.js';
import { createEgressServer, type EgressRoute, safeDecide } from './egress.server.js';
import { EGRESS_SOCKET_FILE, FORWARDER_FILE, FORWARDER_SOURCE } from './forwarder.js';

export interface EgressProxyOptions {
  readonly allow: readonly string[];
  /** When set (the service is root), the run dir and socket are handed to the sandbox uid. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Each request, allowed or refused; the executor can put these in the transcript. */
  readonly onDecision?: (decision: EgressDecision) => void;
  /** Where the per-run directory goes; default the OS temp dir. */
  readonly parentDir?: string;
}

export interface EgressProxy {
  /** The per-run directory holding {@link EGRESS_SOCKET_FILE} and the forwarder script. */
  readonly dir: string;
  readonly socketPath: string;
  /** Stops listening, cuts every open connection and removes the directory. */
  close(): Promise<void>;
}

/**
 * The host side of a sandbox's egress: an HTTP proxy on a Unix socket in a private per-run
 * directory. It serves CONNECT (HTTPS and any other TCP) and absolute-URI HTTP requests to the
 * hosts of `network.allow` only; anything else gets 403 before any name is resolved or any
 * connection made, so a refused host never even sees a DNS query from here.
 */
export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const rules = parseAllowlist(options.allow);
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'rein-egress-'));
  const socketPath = join(dir, EGRESS_SOCKET_FILE);
  // Only the sandbox can reach the socket (a private 0700 directory), so no credentials here.
  const route: EgressRoute = { rules, decide: safeDecide(options.onDecision) };
  const { server, close } = createEgressServer(() => route);
  try {
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, FORWARDER_FILE), FORWARDER_SOURCE, { mode: 0o444 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (options.owner) {
      // The sandbox uid must traverse the directory and write to the socket to connect.
      chownSync(dir, options.owner.uid, options.owner.gid);
      chownSync(socketPath, options.owner.uid, options.owner.gid);
    }
  } catch (err) {
    server.close();
    rmSync(dir, { recursive: true, force: true });
    throw new SandboxError(
      `cannot start the egress proxy in ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return {
    dir,
    socketPath,
    close: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
