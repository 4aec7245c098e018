import type { Provider } from '@nestjs/common';
import type { EventStore } from '@rein/event-store';
import { EventStoreIntakeJournal, InProcessRunApi, IntakeSupervisor } from '@rein/intake';
import { LOGGER, type Logger } from '@rein/logging';
import { EVENT_STORE, TRANSPORT } from '@rein/nest';
import { RunsApi } from '@rein/orchestration';
import type { Transport } from '@rein/transport';

/** `--intake FILE` (REIN_INTAKE), as the composition root hands it to the orchestrator. */
export interface IntakeOptions {
  readonly path: string;
  /** Where the secrets the file names are read (the server's environment). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The server's URL once it listens: status comments link to the inspector's page of a run. */
  readonly publicUrl: () => string;
}

/**
 * The intake supervisor (libs/intake): loaded, and its file checked, when the module starts; the
 * composition root starts its loops once the engine has recovered its runs; it stops with the app.
 */
export function intakeProvider(intake: IntakeOptions | undefined): Provider {
  return {
    provide: IntakeSupervisor,
    inject: [RunsApi, TRANSPORT, EVENT_STORE, LOGGER],
    useFactory: async (api: RunsApi, bus: Transport, store: EventStore, logger: Logger) => {
      if (!intake) return IntakeSupervisor.disabled();
      const log = logger.child({ component: 'intake' });
      return IntakeSupervisor.open({
        path: intake.path,
        env: intake.env,
        runs: (tracker) =>
          new InProcessRunApi({
            api,
            bus,
            by: `intake:${tracker}`,
            link: (runId) => `${intake.publicUrl()}/runs/${encodeURIComponent(runId)}`,
          }),
        journal: (tracker) => new EventStoreIntakeJournal(store, tracker),
        log,
      });
    },
  };
}
