// The configuration as a user meets it: .env.example sourced by a shell as its
// header says, and every bad value named at once.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/config.ts';

const example = fileURLToPath(new URL('../../../.env.example', import.meta.url));

/** The variables .env.example sets, as `set -a; . ./.env.example` gives them to a process. */
function sourced(): Record<string, string> {
  const out = execFileSync('bash', ['-c', 'set -euo pipefail; set -a; . "$1"; set +a; env -0', 'bash', example], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return Object.fromEntries(
    out
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('.env.example', () => {
  test('sources cleanly in a shell, and the server accepts every value in it', () => {
    const env = sourced();
    expect(env.MAIL_FROM).toBe('polyauth <no-reply@localhost>');
    // every variable the file names reaches the process, the last one included
    const names = [...(execFileSync('grep', ['-oE', '^[A-Z_]+=', example]).toString().matchAll(/^([A-Z_]+)=/gm))].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) expect(env).toHaveProperty(name);
    const config = loadConfig(env);
    expect(config.mail.from).toBe('polyauth <no-reply@localhost>');
    expect(config.env).toBe('development');
  });
});

describe('bad values', () => {
  test('every bad value is named in one error, LOG_LEVEL and METRICS_TOKEN included', () => {
    let error: unknown;
    try {
      loadConfig({ LOG_LEVEL: 'loud', PORT: 'eighty', METRICS_TOKEN: 'short', NODE_ENV: 'production' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent \(got "loud"\)/);
    expect(message).toMatch(/PORT must be a whole number/);
    expect(message).toMatch(/METRICS_TOKEN must be at least 16 bytes/);
    expect(message).toMatch(/JWT_SECRET is required/);
  });

  test('LOG_LEVEL is read in any case', () => {
    expect(loadConfig({ LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
  });
});
