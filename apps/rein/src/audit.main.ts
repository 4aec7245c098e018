/** The audit service's own entry point: `rein up --services audit` (see serviceMain). */
import { serviceMain } from './main.js';

process.exitCode = await serviceMain('audit');
