import { describe, expect, it } from '@jest/globals';
import { SandboxError } from '../sandbox.port.js';
import { matchEgress, parseAllowlist } from './allowlist.js';

function allows(entries: string[], kind: 'connect' | 'http', host: string, port: number): string | undefined {
  return matchEgress(parseAllowlist(entries), { kind, host, port })?.entry;
}

describe('the egress allowlist', () => {
  it('allows an exact host on the default port of each kind of request only', () => {
    expect(allows(['api.github.com'], 'connect', 'api.github.com', 443)).toBe('api.github.com');
    expect(allows(['api.github.com'], 'http', 'api.github.com', 80)).toBe('api.github.com');
    expect(allows(['api.github.com'], 'connect', 'api.github.com', 80)).toBeUndefined();
    expect(allows(['api.github.com'], 'http', 'api.github.com', 443)).toBeUndefined();
    expect(allows(['api.github.com'], 'connect', 'github.com', 443)).toBeUndefined();
    expect(allows(['api.github.com'], 'connect', 'evilapi.github.com', 443)).toBeUndefined();
  });

  it('with a port, allows that port for both kinds and no other', () => {
    expect(allows(['127.0.0.1:8080'], 'http', '127.0.0.1', 8080)).toBe('127.0.0.1:8080');
    expect(allows(['127.0.0.1:8080'], 'connect', '127.0.0.1', 8080)).toBe('127.0.0.1:8080');
    expect(allows(['127.0.0.1:8080'], 'http', '127.0.0.1', 80)).toBeUndefined();
    expect(allows(['127.0.0.1:8080'], 'connect', '127.0.0.2', 8080)).toBeUndefined();
  });

  it('matches subdomains for *.domain but not the domain itself or look-alikes', () => {
    const entries = ['*.example.com'];
    expect(allows(entries, 'connect', 'a.example.com', 443)).toBe('*.example.com');
    expect(allows(entries, 'connect', 'a.b.example.com', 443)).toBe('*.example.com');
    expect(allows(entries, 'connect', 'example.com', 443)).toBeUndefined();
    expect(allows(entries, 'connect', 'badexample.com', 443)).toBeUndefined();
    expect(allows(entries, 'connect', 'example.com.evil.org', 443)).toBeUndefined();
  });

  it('compares names case-insensitively and ignores a trailing dot', () => {
    expect(allows(['Registry.NPMJS.org'], 'connect', 'registry.npmjs.ORG.', 443)).toBe('Registry.NPMJS.org');
  });

  it('refuses targets that are no host at all', () => {
    expect(allows(['*.example.com'], 'connect', 'a.example.com/x', 443)).toBeUndefined();
    expect(allows(['example.com'], 'connect', '', 443)).toBeUndefined();
  });

  it('handles bracketed IPv6 entries and targets', () => {
    expect(allows(['[::1]:8080'], 'connect', '[::1]', 8080)).toBe('[::1]:8080');
    expect(allows(['[::1]'], 'connect', '[::1]', 443)).toBe('[::1]');
    expect(allows(['[::1]:8080'], 'connect', '[::2]', 8080)).toBeUndefined();
  });

  it.each([
    ['https://example.com', 'a scheme'],
    ['example.com/path', 'a path'],
    ['*', 'a bare wildcard'],
    ['*.10.0.0.1', 'a wildcard IP'],
    ['example.com:0', 'port 0'],
    ['example.com:70000', 'a port over 65535'],
    ['example.com:', 'an empty port'],
    ['::1', 'an unbracketed IPv6 address'],
    ['exa mple.com', 'a space'],
    ['', 'nothing'],
  ])('rejects %j (%s), naming the entry and the accepted forms', (entry) => {
    expect(() => parseAllowlist(['ok.example.com', entry])).toThrow(SandboxError);
    expect(() => parseAllowlist(['ok.example.com', entry])).toThrow(
      /spec\.network\.allow\[1\] is not a host entry.*use host, host:port/,
    );
  });
});
