export * from './git-token.js';
export * from './git-http.server.js';
export * from './job.manifest.js';
export * from './job.watcher.js';
export * from './kubernetes.backend.js';
export { restrictedViolations } from './pod-security.js';
export { AGENT_WRAPPER, GATE_RUN, GATE_WORKSPACE_IN, WORKSPACE_IN, WORKSPACE_OUT } from './pod-scripts.js';
export { attemptId, isDnsLabel, isLabelValue, jobName, labelValue, LABELS, ANNOTATIONS } from './names.js';
