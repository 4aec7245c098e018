/**
 * The package graph of docs/ARCHITECTURE.md ("Layers"), enforced: `npm run lint:deps`, part of
 * `npm run lint` and so of `npm test`. Bottom to top:
 *
 *   libs/domain        pure; loads nothing but itself, refers to libs/contracts' types only
 *   libs/contracts     wire shapes and their parsing; may use libs/domain through its barrel
 *   libs/config        the settings table (flags, REIN_* variables) and its parsers; contracts' types only
 *   libs/<port>        ports and adapters (and the libraries services share): domain, contracts, each other
 *   services/<name>    Nest modules and controllers over libs/; never another service
 *   apps/rein          the composition root and the CLI: wires the services' modules together
 *
 * bench/ and tools/ stand beside apps/ at the top; test/ and *.spec.ts may import what they test,
 * but stay out of the services' insides and the libs' insides like everyone else. libs/testing is
 * the test kit: only tests, bench/ and tools/ import it.
 *
 * Type-only imports count (tsPreCompilationDeps), and so do dynamic imports, which must name
 * their module literally (eslint.config.js), so no edge is hidden from this file.
 */

/** Any module that is not a test. */
const PRODUCTION = '^(apps|services|libs)/';
const TEST = ['\\.spec\\.ts$', '^test/'];
const DOMAIN = '^libs/domain/src/';
const CONTRACTS_BARREL = '^libs/contracts/src/index\\.ts$';
const BARREL = '^libs/[^/]+/src/index\\.ts$';

/**
 * `from` may not import `to`; `comment` says why, and what to do instead.
 * @returns {import('dependency-cruiser').IForbiddenRuleType}
 */
const forbid = (name, comment, from, to) => ({ name, severity: 'error', comment, from, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    forbid(
      'domain-loads-only-itself',
      'libs/domain is pure: at run time it loads nothing but its own modules (no Nest, node:*, SDKs, ajv, yaml, ' +
        'not even libs/contracts, whose barrel loads all of those). Take what it needs from contracts with `import type`, ' +
        'or move a pure helper into libs/domain.',
      { path: DOMAIN, pathNot: TEST },
      { pathNot: DOMAIN, dependencyTypesNot: ['type-only'] },
    ),
    forbid(
      'domain-types-only-from-contracts',
      "The only thing outside libs/domain that the domain may refer to is libs/contracts' types, through its barrel " +
        '(`import type { … } from "@rein/contracts"`).',
      { path: DOMAIN, pathNot: TEST },
      { pathNot: [DOMAIN, CONTRACTS_BARREL] },
    ),
    forbid(
      'contracts-on-domain-only',
      "libs/contracts is the bottom layer beside libs/domain: of Rein's own code it may use only libs/domain, " +
        'through `@rein/domain`.',
      { path: '^libs/contracts/src/', pathNot: TEST },
      {
        path: '^(apps|services|libs|bench|tools|test)/',
        pathNot: ['^libs/contracts/src/', '^libs/domain/src/index\\.ts$'],
      },
    ),
    forbid(
      'config-on-contracts-only',
      "libs/config (the settings table and its parsers) sits just above libs/contracts: of Rein's own code it may " +
        'use only contracts, through its barrel. A parser a setting needs belongs in libs/config; the readers in ' +
        'other libs take it from there.',
      { path: '^libs/config/src/', pathNot: TEST },
      { path: '^(apps|services|libs|bench|tools|test)/', pathNot: ['^libs/config/src/', CONTRACTS_BARREL] },
    ),
    forbid(
      'config-loads-nothing',
      'The CLI reads and checks every setting through libs/config before it loads a server, so libs/config loads ' +
        "nothing at run time: contracts' types only (`import type`), no packages.",
      { path: '^libs/config/src/', pathNot: TEST },
      { pathNot: '^libs/config/src/', dependencyTypesNot: ['type-only'] },
    ),
    forbid(
      'libs-through-their-barrel',
      'Another lib is used through its barrel, `@rein/<lib>` (libs/<lib>/src/index.ts), never by a path into its src/: ' +
        'what a lib does not export is its own business.',
      { path: '^((?:libs|services|apps)/[^/]+|test)/' },
      { path: '^libs/[^/]+/', pathNot: ['^$1/', BARREL] },
    ),
    forbid(
      'scripts-through-lib-barrels',
      'bench/ and tools/ use libs through their barrels too, except the test kit: its barrel loads Jest, so scripts ' +
        'that run outside Jest take its Jest-free modules (servers, spec builders) by path.',
      { path: '^(bench|tools)/' },
      { path: '^libs/[^/]+/', pathNot: [BARREL, '^libs/testing/src/'] },
    ),
    forbid(
      'libs-below-services',
      'libs/ sit below the services and the composition root: a lib never imports a service, apps/, bench/, tools/ or test/. ' +
        'If a lib needs something a service has, that thing belongs in a lib.',
      { path: '^libs/' },
      { path: '^(services|apps|bench|tools|test)/' },
    ),
    forbid(
      'services-apart',
      "A service never imports another service's code: services share libs/ and talk through messages (STYLE.md).",
      { path: '^services/([^/]+)/' },
      { path: '^services/', pathNot: '^services/$1/' },
    ),
    forbid(
      'services-below-apps',
      'A service does not know how it is composed or started: apps/rein (the composition root and the CLI), bench/, ' +
        'tools/ and test/ import services, never the other way round.',
      { path: '^services/' },
      { path: '^(apps|bench|tools|test)/' },
    ),
    forbid(
      'composition-through-service-modules',
      'The composition root wires a service through its Nest module (services/<name>/src/<name>.module.ts) and nothing ' +
        "else of it: controllers and providers are the module's business.",
      { path: '^(apps|bench|tools)/' },
      { path: '^services/', pathNot: '^services/([^/]+)/src/\\1\\.module\\.ts$' },
    ),
    forbid(
      'test-kit-in-tests-only',
      'libs/testing (servers, fakes, given/when/then) is for tests, bench/ and tools/, never shipped code.',
      { path: PRODUCTION, pathNot: ['^libs/testing/', ...TEST] },
      { path: '^libs/testing/' },
    ),
    forbid(
      'no-dev-dependencies-in-production',
      'The image installs production dependencies only (npm ci --omit=dev): shipped code may not import a devDependency. ' +
        'apps/inspector is the exception: vite bundles it at build time, so its packages are build tools.',
      { path: PRODUCTION, pathNot: ['^libs/testing/', '^apps/inspector/', ...TEST] },
      { dependencyTypes: ['npm-dev'] },
    ),
    forbid(
      'inspector-is-a-browser-bundle',
      'apps/inspector is the web inspector, bundled for the browser: it reaches the server only through the HTTP API, ' +
        "so it imports its own modules and packages, never Rein's libs, services or CLI, nor Node's built-ins " +
        "(the contracts' types excepted, next rule).",
      { path: '^apps/inspector/' },
      { pathNot: ['^apps/inspector/', 'node_modules', CONTRACTS_BARREL] },
    ),
    forbid(
      'inspector-takes-only-contract-types',
      "The inspector's shapes are the contracts' own (one source), taken with `import type` from @rein/contracts: the " +
        'bundler erases those, so no server code reaches the page. A value import would bundle the contracts.',
      { path: '^apps/inspector/' },
      { path: CONTRACTS_BARREL, dependencyTypesNot: ['type-only'] },
    ),
    forbid(
      'inspector-imported-by-nobody',
      'The server serves the built inspector (dist/inspector) as files; no module loads its source.',
      { pathNot: '^apps/inspector/' },
      { path: '^apps/inspector/' },
    ),
    forbid(
      'nats-in-its-adapters-only',
      'Only the transport adapters hold a NATS connection: libs/transport (the NATS transport: requests, events, ' +
        'serving, chunked replies), libs/dispatch (its JetStream work queues), libs/event-store (the JetStream store) ' +
        'and the composition root that connects (apps/rein/src/embedded.ts). A service asks for TRANSPORT.',
      {
        path: PRODUCTION,
        pathNot: [
          '^libs/(transport|dispatch|event-store|testing)/',
          '^apps/rein/src/embedded\\.ts$',
          ...TEST,
        ],
      },
      { path: 'node_modules/@nats-io/' },
    ),
    forbid(
      'no-cycles',
      'No module reaches itself through imports that survive compilation. (libs/domain refers back to contracts with ' +
        'type-only imports, which are erased; that is the one allowed back edge.)',
      {},
      { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    ),
    forbid(
      'resolvable',
      'An import that does not resolve is an edge this file cannot check.',
      {},
      { couldNotResolve: true },
    ),
  ],
  options: {
    // Packages stay in the graph as leaves, so the rules see which package a module imports, but
    // are not cruised themselves; build output and packages installed below a folder are left out.
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^(dist|coverage)/', '^(apps|services|libs|bench|tools|test)/.*/node_modules/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
