import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `rein` CLI of this checkout. */
export const REIN_BIN = fileURLToPath(new URL('../../../bin/rein.mjs', import.meta.url));

export interface CliResult {
  /** The exit code; null when the process was killed (its timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `rein <args>` as a separate process against `server` (REIN_SERVER), without colour, and
 * answers its exit code and output; never rejects, so a test asserts on the code.
 */
export function reinCli(
  server: string,
  args: readonly string[],
  o: { readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [REIN_BIN, ...args],
      {
        env: { ...process.env, REIN_SERVER: server, NO_COLOR: '1', ...o.env },
        timeout: o.timeoutMs ?? 30_000,
      },
      (error, stdout, stderr) =>
        ok({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}
