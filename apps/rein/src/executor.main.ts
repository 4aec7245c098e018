/** The executor service's own entry point: `rein up --services executor` (see serviceMain). */
import { serviceMain } from './main.js';

process.exitCode = await serviceMain('executor');
