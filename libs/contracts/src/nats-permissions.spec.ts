import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  NATS_PERMISSIONS,
  NATS_USERS,
  type NatsUserName,
  allSubjects,
  natsInboxPrefix,
  renderNatsAuthConfig,
  subjectMatches,
  unionPermissions,
} from './nats-permissions.js';
import { SUBJECTS } from './subjects.js';

const CONF = join(import.meta.dirname, '..', '..', '..', 'deploy', 'nats', 'rein-auth.conf');
const SERVICES: NatsUserName[] = ['orchestrator', 'executor', 'verifier', 'audit'];
const allowed = (patterns: readonly string[], subject: string): boolean =>
  patterns.some((p) => subjectMatches(p, subject));

describe('NATS users and their permissions', () => {
  it('deploy/nats/rein-auth.conf is what the permissions render (regenerate it if this fails)', () => {
    expect(readFileSync(CONF, 'utf8')).toBe(renderNatsAuthConfig());
  });

  it.each(allSubjects())('%s has a user that publishes it and a service that subscribes it', (subject) => {
    const users = Object.keys(NATS_PERMISSIONS) as NatsUserName[];
    expect(users.filter((u) => allowed(NATS_PERMISSIONS[u].publish, subject))).not.toEqual([]);
    expect(SERVICES.filter((s) => allowed(NATS_PERMISSIONS[s].subscribe, subject))).not.toEqual([]);
  });

  it('gives the API user the public calls and the event feed, nothing internal', () => {
    const api = NATS_PERMISSIONS.api;
    const publicCalls = [
      ...Object.values(SUBJECTS.runs),
      ...Object.values(SUBJECTS.tasks),
      ...Object.values(SUBJECTS.pools),
    ];
    for (const s of publicCalls) expect(allowed(api.publish, s)).toBe(true);
    expect(allowed(api.subscribe, SUBJECTS.events('run-1'))).toBe(true);
    expect(allowed(api.subscribe, '_INBOX.abc.1')).toBe(true);
    const forbidden = [
      ...allSubjects().filter((s) => !s.startsWith('rein.v1.')),
      SUBJECTS.events('run-1'),
      '_INBOX.abc.1',
      '$JS.API.STREAM.INFO.REIN_DISPATCH',
      '$JS.ACK.REIN_DISPATCH.rein-pool-default.1.1.1.1.1',
      'rein.log.run-1',
      'rein.dispatch.default',
      'rein.gates.verifier',
    ];
    for (const s of forbidden) expect([s, allowed(api.publish, s)]).toEqual([s, false]);
    for (const s of allSubjects().filter((x) => !x.startsWith('rein.v1.')))
      expect([s, allowed(api.subscribe, s)]).toEqual([s, false]);
  });

  it('lets only the service that owns a fact publish it', () => {
    const publishers = (s: string): NatsUserName[] =>
      (Object.keys(NATS_PERMISSIONS) as NatsUserName[]).filter((u) =>
        allowed(NATS_PERMISSIONS[u].publish, s),
      );
    expect(publishers(SUBJECTS.internal.gateVerdict)).toEqual(['verifier']);
    expect(publishers(SUBJECTS.internal.attemptFinished)).toEqual(['executor']);
    expect(publishers(SUBJECTS.internal.attemptStarted)).toEqual(['executor']);
    expect(publishers(SUBJECTS.internal.dispatch('default'))).toEqual(['orchestrator']);
    expect(publishers('rein.dispatch.default')).toEqual(['orchestrator']);
    expect(publishers(SUBJECTS.events('run-1'))).toEqual(['orchestrator']);
    // The verifier appends verdict-* (its cache) and judge answers to attempt-* streams.
    expect(publishers('rein.log.run-1')).toEqual(['orchestrator', 'executor', 'verifier']);
  });

  it('gives the all-in-one user every service permission', () => {
    const all = unionPermissions(SERVICES);
    for (const s of SERVICES)
      for (const k of ['publish', 'subscribe'] as const)
        for (const p of NATS_PERMISSIONS[s][k]) expect(all[k]).toContain(p);
  });

  it('gives each service a reply inbox only it may subscribe, and API clients the default one', () => {
    const users = Object.keys(NATS_PERMISSIONS) as NatsUserName[];
    for (const u of SERVICES) {
      const prefix = natsInboxPrefix(NATS_USERS[u]);
      expect(prefix).toBe(`_REIN_INBOX.${u}`);
      const readers = users.filter((r) => allowed(NATS_PERMISSIONS[r].subscribe, `${prefix}.reply.1`));
      expect([u, readers]).toEqual([u, [u]]);
      // Every other service may answer it; an API client may not.
      for (const r of SERVICES) expect(allowed(NATS_PERMISSIONS[r].publish, `${prefix}.reply.1`)).toBe(true);
      expect(allowed(NATS_PERMISSIONS.api.publish, `${prefix}.reply.1`)).toBe(false);
    }
    expect(allowed(unionPermissions(SERVICES).subscribe, `${natsInboxPrefix(NATS_USERS.all)}.x`)).toBe(true);
    expect(natsInboxPrefix(NATS_USERS.api)).toBeUndefined();
    expect(natsInboxPrefix('someone-else')).toBeUndefined();
    expect(natsInboxPrefix(undefined)).toBeUndefined();
  });

  it('matches NATS wildcards as the server does', () => {
    expect(subjectMatches('a.*', 'a.b')).toBe(true);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
    expect(subjectMatches('a.b', 'a.c')).toBe(false);
  });
});
