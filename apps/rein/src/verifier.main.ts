/** The verifier service's own entry point: `rein up --services verifier` (see serviceMain). */
import { serviceMain } from './main.js';

process.exitCode = await serviceMain('verifier');
