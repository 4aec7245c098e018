/**
 * The one definition of what a run id and a task id may be. Ids name directories
 * (`runs/<runId>/workspaces/<taskId>`), git refs, stream names, NATS subject tokens and pod
 * environment, so the spec schema, the OpenAPI document, the engine and every adapter that
 * takes an id from the wire check it against these. A run id has no '.', so it is always one
 * NATS subject token.
 */
export const RUN_ID_CHARS = '[A-Za-z0-9_-]{1,64}';
export const TASK_ID_CHARS = '[A-Za-z0-9._-]{1,64}';

export const RUN_ID_PATTERN = new RegExp(`^${RUN_ID_CHARS}$`);
export const TASK_ID_PATTERN = new RegExp(`^${TASK_ID_CHARS}$`);

export function isRunId(id: unknown): id is string {
  return typeof id === 'string' && RUN_ID_PATTERN.test(id);
}

/**
 * A task id that can also name a directory: the pattern, and not '.' or '..'. The spec's
 * pattern alone admits those two; whatever turns a task id into a path checks this instead.
 */
export function isTaskDirName(id: unknown): id is string {
  return typeof id === 'string' && TASK_ID_PATTERN.test(id) && id !== '.' && id !== '..';
}

/** A pool's name becomes a NATS subject token (`rein.dispatch.<pool>`) and a consumer name. */
export const POOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
