import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { parse as parseYaml } from 'yaml';
import { compileCacheDir } from '../compile-cache.mjs';

/**
 * Parsed specs kept as JSON beside the compile cache, keyed by a hash of the
 * YAML text: parsing the five specs' YAML is about 0.35 s of every start,
 * reading them back as JSON a few milliseconds. A spec edited is a new key,
 * so a stale parse is never served; where the directory cannot be written
 * the spec is simply parsed each time. NODE_DISABLE_COMPILE_CACHE=1 turns it
 * off with the compile cache.
 */
const dir = path.join(compileCacheDir(), 'specs');
const FORMAT = 'polyauth-spec-json-v1';

/** The spec at `file`, parsed (YAML), through the cache. */
export function loadSpec(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  const off = process.env.NODE_DISABLE_COMPILE_CACHE === '1';
  const cached = path.join(dir, `${createHash('sha256').update(FORMAT).update('\0').update(text).digest('hex')}.json`);
  if (!off) {
    try {
      return JSON.parse(readFileSync(cached, 'utf8')) as Record<string, unknown>;
    } catch {
      // not cached yet (or unreadable): parse below
    }
  }
  // loaded only on a miss: the YAML parser is a module load of its own
  const { parse } = createRequire(import.meta.url)('yaml') as { parse: typeof parseYaml };
  const spec = parse(text) as Record<string, unknown>;
  if (!off) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(spec), { mode: 0o600 });
      renameSync(tmp, cached); // atomic: a parallel start reads a whole file or none
    } catch {
      // a read-only checkout: parse each time
    }
  }
  return spec;
}
