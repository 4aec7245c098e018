import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BaseSources, BaseSourcesError, type BaseVerdict } from './base-sources.js';

// A small tree on disk, since local roots are compared after realpath:
//   root/data/executor/runs/A/repo.git   the server's data dir, with a run's repository
//   root/repos/service                   an allowed plain directory
//   root/repos/bare.git                  an allowed bare repository
//   root/elsewhere                       outside every root
let root: string;
let data: string;
let repos: string;
let runRepo: string;

function bareRepo(dir: string): void {
  mkdirSync(path.join(dir, 'objects', 'info'), { recursive: true });
  mkdirSync(path.join(dir, 'refs'), { recursive: true });
  writeFileSync(path.join(dir, 'HEAD'), 'ref: refs/heads/main\n');
}

beforeAll(() => {
  root = realpathSync(mkdtempSync(path.join(tmpdir(), 'rein-base-sources-')));
  data = path.join(root, 'data');
  repos = path.join(root, 'repos');
  runRepo = path.join(data, 'executor', 'runs', 'A', 'repo.git');
  bareRepo(runRepo);
  mkdirSync(path.join(repos, 'service'), { recursive: true });
  bareRepo(path.join(repos, 'bare.git'));
  mkdirSync(path.join(root, 'elsewhere'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const forbidden = (): { path: string; what: string }[] => [{ path: data, what: "the server's data dir" }];
const refused = (v: BaseVerdict): { message: string; hint: string } => {
  if (v.ok) throw new Error(`expected a refusal, got ${JSON.stringify(v)}`);
  return v;
};

describe('parsing --workspace-sources', () => {
  it('reads local roots and URL patterns, scp-like ones as ssh://, with an optional secret', () => {
    const s = BaseSources.parse(
      ' /srv/repos , https://GitHub.com/acme/*[secret:GITHUB_TOKEN], git@git.example.com:team/*,',
    );
    expect(s.sources.map((x) => (x.kind === 'path' ? x.root : x.pattern))).toEqual([
      '/srv/repos',
      'https://github.com/acme/*',
      'ssh://git@git.example.com/team/*',
    ]);
    expect(s.sources[1]).toMatchObject({ kind: 'url', secret: 'GITHUB_TOKEN' });
    expect(s.describe()).toContain('/srv/repos, https://GitHub.com/acme/*[secret:GITHUB_TOKEN]');
  });

  it('names the bad entry and the fix', () => {
    const cases: [string, RegExp][] = [
      [
        '/srv,relative/dir',
        /"relative\/dir" \(entry 2\): it is neither an absolute path nor a URL pattern; give/,
      ],
      ['ftp://host/*', /"ftp:\/\/host\/\*" \(entry 1\): the scheme ftp is not fetched; use https:/],
      ['file:///srv', /the scheme file is not fetched; give the local root as an absolute path/],
      ['ssh://git@host/*[secret:T]', /a secret is sent only over https/],
      ['https://h/*[secret:1BAD]', /"1BAD" is not an environment variable name/],
      ['/srv/*', /a local root takes no '\*'/],
      ['https://github.com', /names no host and path; e\.g\. https:\/\/github\.com\/acme\/\*/],
    ];
    for (const [list, message] of cases) {
      expect(() => BaseSources.parse(list)).toThrow(BaseSourcesError);
      expect(() => BaseSources.parse(list)).toThrow(message);
    }
  });

  it('defaults: an open server allows local paths and https://*, a server with tokens nothing', () => {
    const open = BaseSources.forServer({ list: undefined, open: true, forbidden: forbidden() });
    expect(open.check(path.join(repos, 'service'))).toMatchObject({ ok: true });
    expect(open.check('https://example.com/x.git')).toMatchObject({ ok: true });
    expect(refused(open.check('ssh://git@example.com/x.git')).hint).toMatch(
      /local paths outside the data dir, https:\/\/\*/,
    );
    const closed = BaseSources.forServer({ list: '', open: false, forbidden: forbidden() });
    const r = refused(closed.check(path.join(repos, 'service')));
    expect(r.message).toContain('is not under an allowed local root');
    expect(r.hint).toMatch(
      /allows no workspace bases yet: set --workspace-sources \(env REIN_WORKSPACE_SOURCES\)/,
    );
    const configured = BaseSources.forServer({ list: repos, open: false, forbidden: forbidden() });
    expect(configured.check(path.join(repos, 'service'))).toEqual({
      ok: true,
      fetch: path.join(repos, 'service'),
      local: true,
    });
  });
});

describe('local bases', () => {
  it('accepts a path at or under a root and refuses a sibling whose name only starts like it', () => {
    const s = BaseSources.parse(repos, forbidden());
    expect(s.check(repos)).toMatchObject({ ok: true });
    expect(s.check(path.join(repos, 'bare.git'))).toMatchObject({ ok: true, local: true });
    mkdirSync(`${repos}-evil`, { recursive: true });
    const r = refused(s.check(`${repos}-evil`));
    expect(r.message).toBe(`workspace base ${repos}-evil is not under an allowed local root`);
    expect(r.hint).toBe(`allowed sources (--workspace-sources): ${repos}`);
  });

  it('never allows the data dir, whatever the list says: a path, a symlink into it, a file:// URL', () => {
    const s = BaseSources.parse(`/,${data}`, forbidden());
    const link = path.join(root, 'elsewhere', 'looks-harmless');
    symlinkSync(path.join(data, 'executor', 'runs', 'A'), link);
    for (const given of [
      runRepo,
      path.join(link, 'repo.git'),
      pathToFileURL(runRepo).href,
      `${data}/../data/executor`,
    ]) {
      const r = refused(s.check(given));
      expect(r.message).toMatch(/is inside the server's data dir .*whatever the sources allow/);
      expect(r.message).toContain(data);
      expect(r.hint).toContain(`take the base from a repository outside ${data}`);
    }
  });

  it('refuses a plain directory that contains the data dir, and a repository whose git data is in it', () => {
    const s = BaseSources.parse('/', forbidden());
    expect(refused(s.check(root)).message).toMatch(
      /is a plain directory that contains the server's data dir/,
    );
    // A work tree whose .git file points at the run's repository, and a repository borrowing its objects.
    const gitfile = path.join(root, 'elsewhere', 'gitfile');
    mkdirSync(gitfile);
    writeFileSync(path.join(gitfile, '.git'), `gitdir: ${runRepo}\n`);
    expect(refused(s.check(gitfile)).message).toMatch(/\(its git data at .*runs\/A\/repo\.git\)/);
    const borrower = path.join(root, 'elsewhere', 'borrower.git');
    bareRepo(borrower);
    writeFileSync(path.join(borrower, 'objects', 'info', 'alternates'), `${path.join(runRepo, 'objects')}\n`);
    expect(refused(s.check(borrower)).message).toMatch(/its git data at .*runs\/A\/repo\.git\/objects/);
    // A repository is read only through git, so one whose work tree holds the data dir is fine.
    mkdirSync(path.join(root, '.git'));
    try {
      expect(s.check(root)).toEqual({ ok: true, fetch: root, local: true });
    } finally {
      rmSync(path.join(root, '.git'), { recursive: true });
    }
  });

  it('refuses relative paths, with the hint that the spec file is not the base of them', () => {
    const r = refused(BaseSources.parse('/').check('./service'));
    expect(r.message).toBe('workspace base ./service is neither an absolute path nor a git URL');
    expect(r.hint).toMatch(/not resolved against the spec file: give an absolute path/);
    expect(refused(BaseSources.parse('/').check('-uhack')).message).toMatch(/starts with '-'/);
  });
});

describe('URL bases', () => {
  const s = BaseSources.parse(
    'https://github.com/acme/*[secret:GITHUB_TOKEN],ssh://git@git.example.com/team/*,https://*.example.org/*',
  );

  it('matches patterns and hands git the URL it matched', () => {
    expect(s.check('https://GitHub.com/acme/service.git')).toEqual({
      ok: true,
      fetch: 'https://github.com/acme/service.git',
      local: false,
      secret: 'GITHUB_TOKEN',
    });
    expect(s.check('git@git.example.com:team/app.git')).toEqual({
      ok: true,
      fetch: 'git@git.example.com:team/app.git',
      local: false,
    });
    expect(s.check('ssh://git@GIT.example.com/team/app.git')).toMatchObject({
      ok: true,
      fetch: 'ssh://git@git.example.com/team/app.git',
    });
    expect(s.check('https://a.b.example.org/x')).toMatchObject({ ok: true });
  });

  it('refuses what only looks allowed', () => {
    const cases = [
      'https://github.com/acme-evil/x', // `*` comes after the slash
      'https://github.com@evil.com/acme/x', // the host is evil.com
      'https://evil.com/.example.org/x', // a host wildcard stops at '/'
      'https://x@evil.com.example.org.evil.com/x',
      'http://github.com/acme/x', // another scheme
      'git@evil.com:team/app.git',
    ];
    for (const repo of cases) {
      const r = refused(s.check(repo));
      expect(r.message).toContain('matches no allowed URL pattern');
      expect(r.hint).toContain(
        'allowed sources (--workspace-sources): https://github.com/acme/*[secret:GITHUB_TOKEN]',
      );
    }
    for (const repo of [
      'https://github.com/acme/../other/x',
      'https://github.com/acme/%2E%2E/other/x',
      'https://github.com/acme\\..\\x',
    ]) {
      expect(refused(s.check(repo)).message).toMatch(/has a '\\' or a '\.' or '\.\.' path segment/);
    }
    expect(refused(s.check('ext::sh -c evil')).message).toMatch(/neither an absolute path nor a git URL/);
    expect(refused(s.check('ftp://github.com/acme/x')).message).toMatch(
      /scheme ftp, which rein does not fetch/,
    );
  });

  it('does not repeat a password given in the URL', () => {
    const r = refused(s.check('https://me:hunter2@gitlab.com/x.git'));
    expect(r.message).toBe('workspace base https://me:***@gitlab.com/x.git matches no allowed URL pattern');
  });
});
