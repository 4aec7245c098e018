import type { RunList } from '@rein/contracts';
import { type ShownView, useJson } from './api.js';
import { CompareLink, RunLink } from './run-link.js';

/** What the tree needs of a run: the summaries' head fields. */
interface Member {
  readonly runId: string;
  readonly status: ShownView['status'];
  readonly createdAt: string;
  readonly forkedFrom?: ShownView['forkedFrom'];
}

export interface Family {
  readonly root: Member;
  /** Source run id → its forks, oldest first. */
  readonly forks: ReadonlyMap<string, readonly Member[]>;
  readonly size: number;
}

/**
 * The family of `current` among `runs`: its root ancestor (the furthest source that is listed)
 * and every fork of a fork below it. `current` counts even when the list does not hold it.
 */
export function familyOf(current: Member, runs: readonly Member[]): Family {
  const byId = new Map(runs.map((r) => [r.runId, r]));
  byId.set(current.runId, current);
  let root = current;
  const seen = new Set([root.runId]);
  for (let up = root.forkedFrom && byId.get(root.forkedFrom.runId); up && !seen.has(up.runId);) {
    root = up;
    seen.add(up.runId);
    up = root.forkedFrom && byId.get(root.forkedFrom.runId);
  }
  const forks = new Map<string, Member[]>();
  for (const r of [...byId.values()].sort((x, y) => x.createdAt.localeCompare(y.createdAt))) {
    if (!r.forkedFrom || r.runId === root.runId) continue;
    const siblings = forks.get(r.forkedFrom.runId) ?? [];
    siblings.push(r);
    forks.set(r.forkedFrom.runId, siblings);
  }
  let size = 0;
  const walk = (m: Member): void => {
    size += 1;
    forks.get(m.runId)?.forEach(walk);
  };
  walk(root);
  return { root, forks, size };
}

// One page of the newest runs: GET /v1/runs has no "forks of" filter, so a family older than
// the newest 1000 runs shows only the part that is listed.
const LIST = '/v1/runs?limit=1000';

/**
 * The run's lineage: the tree of its family built from the run summaries' `forkedFrom`, this
 * run highlighted, each node a link with its status and each fork a link to compare it with its
 * source. Nothing when the run has neither a source nor forks.
 */
export function Lineage({ view }: { view: ShownView }) {
  const { data } = useJson<RunList>(LIST, [view.runId, view.status]);
  if (!data) return null;
  const family = familyOf(view, data.runs);
  if (family.size < 2) return null;
  return (
    <section class="lineage" data-testid="lineage" data-size={family.size}>
      <div class="toolbar">
        <b>Lineage</b>
        <span class="muted">
          {family.size} runs from {family.root.runId}
        </span>
      </div>
      <ul class="tree">
        <Node member={family.root} family={family} current={view.runId} />
      </ul>
    </section>
  );
}

function Node({ member, family, current }: { member: Member; family: Family; current: string }) {
  const forks = family.forks.get(member.runId) ?? [];
  const here = member.runId === current;
  return (
    <li data-run={member.runId} data-current={here ? 'yes' : 'no'} class={here ? 'current' : undefined}>
      <RunLink runId={member.runId} /> <span class={`badge state-${member.status}`}>{member.status}</span>
      {member.forkedFrom ? (
        <>
          {' '}
          <span class="muted">at event {member.forkedFrom.atEvent}</span>{' '}
          <CompareLink a={member.forkedFrom.runId} b={member.runId} />
        </>
      ) : null}
      {forks.length > 0 ? (
        <ul>
          {forks.map((f) => (
            <Node member={f} family={family} current={current} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}
