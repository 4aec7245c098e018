import { describe, expect, it } from '@jest/globals';
import { MIN_REDACTED_SECRET_LENGTH, Redactor } from './redactor.js';

function streamed(secrets: Record<string, string>, chunks: readonly string[]): string {
  const r = new Redactor(secrets);
  return chunks.map((c) => r.push(c)).join('') + r.end();
}

describe('Redactor', () => {
  const secrets = { TOKEN: 'sk-live-abcdef' };

  it('replaces a secret split at every possible point between two chunks', () => {
    const text = 'before sk-live-abcdef after';
    for (let cut = 0; cut <= text.length; cut++) {
      expect(streamed(secrets, [text.slice(0, cut), text.slice(cut)])).toBe('before [REDACTED:TOKEN] after');
    }
  });

  it('replaces a secret fed one character at a time', () => {
    expect(streamed(secrets, [...'xsk-live-abcdefsk-live-abcdef'])).toBe('x[REDACTED:TOKEN][REDACTED:TOKEN]');
  });

  it('holds back only what could still become a secret, and releases it at the end', () => {
    const r = new Redactor(secrets);
    expect(r.push('hello sk-li')).toBe('hello ');
    expect(r.push('ne')).toBe('sk-line');
    expect(r.push(' sk-')).toBe(' ');
    expect(r.end()).toBe('sk-');
  });

  it('replaces the longer of two overlapping secrets whole', () => {
    expect(streamed({ SHORT: 'abcd', LONG: 'abcdefgh' }, ['xxabcdefghxxabcdxx'])).toBe(
      'xx[REDACTED:LONG]xx[REDACTED:SHORT]xx',
    );
  });

  it('treats regular-expression characters in values literally', () => {
    expect(streamed({ P: 'a.b*c(d)' }, ['a.b*c(d) axbbbcd'])).toBe('[REDACTED:P] axbbbcd');
  });

  it(`leaves values shorter than ${MIN_REDACTED_SECRET_LENGTH} characters alone and names them`, () => {
    const r = new Redactor({ PIN: '123', TOKEN: 'sk-live-abcdef' });
    expect(r.unredacted).toEqual(['PIN']);
    expect(r.push('123 sk-live-abcdef') + r.end()).toBe('123 [REDACTED:TOKEN]');
  });

  it('passes text straight through when there are no secrets', () => {
    expect(new Redactor({}).push('anything')).toBe('anything');
  });
});
