/**
 * The seam between `rein up` and the composition root (`embedded.ts`). The CLI only depends on
 * this small interface; the composition root, with Nest and every adapter, is loaded when `up`
 * runs, so every other command starts without it.
 */
export interface EmbeddedServerOptions {
  readonly host: string;
  readonly port: number;
  /** Event store, workspaces and snapshots live here. */
  readonly dataDir: string;
  /** Run agents without a sandbox; the server refuses to start without one otherwise. */
  readonly unsafeNoSandbox: boolean;
  /** Host uids for sandboxed attempts (`first-last`); the server's default range otherwise. */
  readonly sandboxUids?: string;
  /** Message transport between the services; the server's default is in-process. */
  readonly transport?: string;
  /** Event store; the server's default is SQLite in `dataDir`. */
  readonly store?: string;
  readonly natsUrl?: string;
  readonly redisUrl?: string;
  /** Bearer tokens with scopes (YAML or JSON); the server requires one to listen beyond loopback. */
  readonly tokensFile?: string;
  /** Tracker intake, a YAML file (docs/intake.md); the server checks it at start. */
  readonly intake?: string;
  /** Where workspace bases may come from (local roots, URL patterns); the server applies its defaults. */
  readonly workspaceSources?: string;
  /** Executor pools (JSON list or a YAML/JSON file); the server's default is one local pool. */
  readonly pools?: string;
  /** Cleanup (README "Configuration"); the server checks them and applies its defaults. */
  readonly retentionDays?: string;
  readonly workspaceCleanup?: string;
  readonly maxWorkspaceGb?: string;
  /** Lines below it are not logged; the server's default is `info`. */
  readonly logLevel?: string;
  /** Which of the services this process runs; the server's default is all four. */
  readonly services?: readonly string[];
}

export interface EmbeddedServer {
  /** The URL the HTTP API listens on, if the server reports it. */
  readonly url?: string;
  readonly config?: { readonly dataDir: string };
  close(): Promise<void>;
}

export interface ServerModule {
  readonly startEmbedded: (options: EmbeddedServerOptions) => Promise<EmbeddedServer>;
}

export class ServerUnavailableError extends Error {
  constructor(reason: string) {
    super(
      `cannot load the embedded server (embedded.js): ${reason}. ` +
        'Run `npm run build:js` (or `npm install`, which builds) in the rein checkout, then `rein up` again.',
    );
    this.name = 'ServerUnavailableError';
  }
}

export async function loadServer(): Promise<ServerModule> {
  try {
    return await import('./embedded.js');
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'ERR_UNKNOWN_FILE_EXTENSION' ||
      code === 'MODULE_NOT_FOUND'
    ) {
      throw new ServerUnavailableError(e instanceof Error ? e.message : String(e));
    }
    throw e;
  }
}
