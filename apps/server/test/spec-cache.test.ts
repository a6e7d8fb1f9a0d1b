// Specs parsed once and kept as JSON: the same document as parsing the YAML,
// and an edited spec is parsed again, never served stale.
import { expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadSpec } from '../src/http/spec-cache.ts';
import { specPath } from '../src/paths.ts';

test('a spec read through the cache is the parsed YAML; an edit is a miss, not a stale hit', () => {
  const real = specPath('oauth-service');
  expect(loadSpec(real)).toEqual(parse(readFileSync(real, 'utf8')));
  expect(loadSpec(real)).toEqual(parse(readFileSync(real, 'utf8'))); // the second read, from the cache

  const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-spec-cache-'));
  try {
    const file = path.join(dir, 'spec.yaml');
    const stamp = `${process.pid}-${Date.now()}`;
    writeFileSync(file, `openapi: 3.1.0\ninfo:\n  title: one ${stamp}\n  version: 1.0.0\npaths: {}\n`);
    expect(loadSpec(file)).toMatchObject({ info: { title: `one ${stamp}` } });
    expect(loadSpec(file)).toMatchObject({ info: { title: `one ${stamp}` } });
    writeFileSync(file, `openapi: 3.1.0\ninfo:\n  title: two ${stamp}\n  version: 1.0.0\npaths: {}\n`);
    expect(loadSpec(file)).toMatchObject({ info: { title: `two ${stamp}` } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
