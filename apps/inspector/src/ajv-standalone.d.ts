// ajv/dist/standalone as Node's ESM loader gives it (the CommonJS module.exports, whose `default`
// is the function), for libs/contracts' run-spec.validator.ts when it is type-checked as part of
// the contracts' types under this config's Bundler resolution, which would give the function
// itself. Types only: nothing of it reaches the bundle (the page imports no run-time code of the
// contracts).
import type standaloneCode from '../../../node_modules/ajv/dist/standalone/index.js';

declare const standalone: { readonly default: typeof standaloneCode };
export default standalone;
