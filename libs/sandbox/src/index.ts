export * from './sandbox.port.js';
export * from './redactor.js';
export { BubblewrapSandbox, DEFAULT_ETC_ENTRIES, type BubblewrapOptions } from './bubblewrap.sandbox.js';
export { NoSandbox, detectSandbox } from './unsafe.sandbox.js';
export { defaultCpuShare, probeCgroups, reapOrphanCgroups } from './cgroups.js';
export * from './uid-pool.js';
export * from './egress/index.js';
export { sandboxReachable, traversableByOthers } from './reachable.js';
