export { type EgressRule, type EgressTarget, matchEgress, parseAllowlist } from './allowlist.js';
export { type EgressProxy, type EgressProxyOptions, startEgressProxy } from './egress.proxy.js';
export {
  EGRESS_DIR_INSIDE,
  EGRESS_PRELUDE,
  EGRESS_SOCKET_FILE,
  FORWARDER_FILE,
  FORWARDER_PORT,
  proxyEnv,
} from './forwarder.js';
export {
  type EgressRegistration,
  type TenantEgressProxy,
  type TenantEgressProxyOptions,
  startTenantEgressProxy,
} from './tenant-egress.proxy.js';
