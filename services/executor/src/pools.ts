import type { LocalPool } from '@rein/execution';

export type Pools = Map<string, LocalPool>;
export const POOLS = Symbol('POOLS');

/** When each attempt's dispatch decision was appended (`causeAt`), until the attempt starts. */
export const causes = new Map<string, number>();
