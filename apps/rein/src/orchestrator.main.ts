/** The orchestrator service's own entry point: `rein up --services orchestrator` (see serviceMain). */
import { serviceMain } from './main.js';

process.exitCode = await serviceMain('orchestrator');
