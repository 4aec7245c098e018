import { describe, expect, it } from '@jest/globals';
import { judgeConfigFromEnv } from './judge.config.js';
import { JudgeConfigError } from './judge.error.js';

describe('judgeConfigFromEnv', () => {
  it('reads the judge from the environment, with defaults for the rest', () => {
    expect(judgeConfigFromEnv({ REIN_JUDGE_API_KEY: 'sk-1', REIN_JUDGE_MODEL: 'gpt-4.1-mini' })).toEqual({
      baseURL: 'https://api.openai.com/v1',
      apiKey: 'sk-1',
      model: 'gpt-4.1-mini',
      timeoutMs: 60_000,
      maxRetries: 2,
    });
    expect(
      judgeConfigFromEnv({
        REIN_JUDGE_BASE_URL: 'http://127.0.0.1:7711/v1/',
        REIN_JUDGE_API_KEY: 'local',
        REIN_JUDGE_MODEL: 'standin',
        REIN_JUDGE_TIMEOUT_MS: '5000',
        REIN_JUDGE_MAX_RETRIES: '0',
      }),
    ).toEqual({
      baseURL: 'http://127.0.0.1:7711/v1',
      apiKey: 'local',
      model: 'standin',
      timeoutMs: 5000,
      maxRetries: 0,
    });
  });

  it('lists every problem, naming its variable, and never the key', () => {
    let err: unknown;
    try {
      judgeConfigFromEnv({
        REIN_JUDGE_BASE_URL: 'https://user:sk-hidden@judge.example/v1',
        REIN_JUDGE_API_KEY: ' ',
        REIN_JUDGE_TIMEOUT_MS: '1.5',
        REIN_JUDGE_MAX_RETRIES: '-1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JudgeConfigError);
    const { problems, message } = err as JudgeConfigError;
    expect(problems).toEqual([
      'REIN_JUDGE_BASE_URL must not carry credentials: put the key in REIN_JUDGE_API_KEY',
      'REIN_JUDGE_API_KEY is not set: set it to the API key of the judge service (any non-empty value for a local server that needs none)',
      'REIN_JUDGE_MODEL is not set: name the model that judges (e.g. gpt-4.1-mini)',
      "REIN_JUDGE_TIMEOUT_MS must be an integer ≥ 1, got '1.5'",
      "REIN_JUDGE_MAX_RETRIES must be an integer ≥ 0, got '-1'",
    ]);
    expect(message).not.toContain('sk-hidden');
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() =>
      judgeConfigFromEnv({
        REIN_JUDGE_BASE_URL: 'judge.local:7711',
        REIN_JUDGE_API_KEY: 'k',
        REIN_JUDGE_MODEL: 'm',
      }),
    ).toThrow('REIN_JUDGE_BASE_URL must be http(s), got judge.local:');
    expect(() =>
      judgeConfigFromEnv({
        REIN_JUDGE_BASE_URL: 'not a url',
        REIN_JUDGE_API_KEY: 'k',
        REIN_JUDGE_MODEL: 'm',
      }),
    ).toThrow('REIN_JUDGE_BASE_URL is not a URL: give the API base, e.g. http://127.0.0.1:7711/v1');
  });
});
