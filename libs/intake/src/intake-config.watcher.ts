import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Problem } from '@rein/contracts';
import { type IntakeConfig, loadIntakeConfig } from './intake.config.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface IntakeConfigEvents {
  /** A changed file was read and is now in force. */
  readonly reloaded: (config: IntakeConfig) => void;
  /** A changed file was refused: the last good config stays in force, and this says why. */
  readonly refused: (problems: readonly Problem[]) => void;
}

/**
 * The intake file, reloaded when it changes (as Symphony reloads WORKFLOW.md). The directory is
 * watched, not the file, so an editor's save-by-rename is seen too; an invalid reload keeps the
 * last good config.
 */
export class IntakeConfigWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly env: Env,
    private config: IntakeConfig,
    private readonly on: IntakeConfigEvents,
  ) {}

  /** Loads the file once; refuses to start on an invalid one (the problems are thrown). */
  static async start(path: string, env: Env, on: IntakeConfigEvents): Promise<IntakeConfigWatcher> {
    const first = await loadIntakeConfig(path, env);
    if (!first.ok) throw new IntakeConfigError(path, first.problems);
    const w = new IntakeConfigWatcher(path, env, first.config, on);
    w.watcher = watch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path)) return;
      // Editors write in several steps: read once they have settled.
      clearTimeout(w.timer);
      w.timer = setTimeout(() => void w.reload(), 50);
    });
    return w;
  }

  get current(): IntakeConfig {
    return this.config;
  }

  /** Reads the file again now (also what a change triggers). */
  reload(): Promise<void> {
    this.loading = this.loading.then(async () => {
      const next = await loadIntakeConfig(this.path, this.env);
      if (next.ok) {
        this.config = next.config;
        this.on.reloaded(next.config);
      } else {
        this.on.refused(next.problems);
      }
    });
    return this.loading;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}

export class IntakeConfigError extends Error {
  override readonly name = 'IntakeConfigError';
  constructor(
    path: string,
    readonly problems: readonly Problem[],
  ) {
    super(
      `the intake file ${path} is invalid:\n  ${problems.map((p) => `${p.path || '/'}: ${p.message} (${p.hint})`).join('\n  ')}`,
    );
  }
}
