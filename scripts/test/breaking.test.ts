// check:breaking: one fixture pair (old.yaml → new.yaml) per kind of change,
// each classified; then the gate on a real git history, with the issue's own
// example (mts-auth's Name narrowed from 100 to 40 characters).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from '@jest/globals';
import { parseChangelog } from '../../apps/docs/src/changelog.ts';
import { allowsBreaking, checkBreaking, chooseBase, format, judge } from '../breaking/check.ts';
import { bundleSpec } from '../breaking/load.ts';
import { diffSpecs, type Change, type ChangeKind } from '../breaking/spec-diff.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures/breaking');
const repoRoot = path.resolve(here, '../..');

async function diffFixture(name: string): Promise<Change[]> {
  const dir = path.join(fixtures, name);
  const [oldSpec, newSpec] = await Promise.all(
    ['old.yaml', 'new.yaml'].map((f) => bundleSpec(readFileSync(path.join(dir, f), 'utf8'), path.join(dir, f))),
  );
  return diffSpecs(oldSpec, newSpec);
}

type Expect = { kinds: ChangeKind[]; where: string; words: RegExp };
const breaking: Record<string, Expect> = {
  'path-removed': { kinds: ['path-removed'], where: '/health', words: /path removed \(GET\)/ },
  'operation-removed': { kinds: ['operation-removed'], where: 'PUT /things/{id}', words: /operation removed/ },
  'response-status-removed': { kinds: ['response-status-removed'], where: 'GET /things/{id}', words: /response status 404 removed/ },
  'response-property-removed': { kinds: ['response-property-removed'], where: 'GET /things/{id}', words: /response 200 \(application\/json\) property `color` removed/ },
  'parameter-newly-required': { kinds: ['parameter-newly-required'], where: 'GET /things/{id}', words: /query parameter `verbose` newly required/ },
  'property-newly-required': { kinds: ['property-newly-required'], where: 'PUT /things/{id}', words: /property `note` newly required/ },
  'type-narrowed': { kinds: ['type-narrowed'], where: 'PUT /things/{id}', words: /`size`: type narrowed from integer \| string to integer/ },
  'max-length-lowered': { kinds: ['constraint-tightened'], where: 'PUT /things/{id}', words: /`name`: maxLength lowered from 100 to 40/ },
  'min-length-raised': { kinds: ['constraint-tightened'], where: 'PUT /things/{id}', words: /`name`: minLength raised from 1 to 3/ },
  'maximum-lowered': { kinds: ['constraint-tightened'], where: 'PUT /things/{id}', words: /`size`: maximum lowered from 10 to 5/ },
  'minimum-raised': { kinds: ['constraint-tightened'], where: 'PUT /things/{id}', words: /`size`: minimum raised from 1 to 2/ },
  'pattern-changed': { kinds: ['constraint-tightened'], where: 'PUT /things/{id}', words: /`name`: pattern changed from `\^\[a-z\]\+\$` to/ },
  'enum-value-removed': { kinds: ['enum-value-removed'], where: 'PUT /things/{id}', words: /`color`: enum value `green` removed/ },
  'enum-set': { kinds: ['type-narrowed'], where: 'PUT /things/{id}', words: /`note`: now limited to `short`, `long`/ },
  'request-content-type-changed': {
    kinds: ['content-type-changed', 'content-type-added'],
    where: 'PUT /things/{id}',
    words: /request content type changed: `application\/json` no longer accepted/,
  },
  'response-content-type-changed': {
    kinds: ['content-type-changed'],
    where: 'GET /things/{id}',
    words: /response 200: content type changed from `application\/json` to `application\/xml`/,
  },
  'security-scheme-changed': { kinds: ['security-changed'], where: 'GET /things/{id}', words: /security scheme changed: was bearer \(http bearer\), now basic \(http basic\)/ },
  'response-header-removed': { kinds: ['header-removed'], where: 'GET /things/{id}', words: /response 200: header `X-Rate-Limit` removed/ },
};
const additive: Record<string, Expect> = {
  'path-added': { kinds: ['path-added'], where: '/version', words: /path added/ },
  'operation-added': { kinds: ['operation-added'], where: 'HEAD /health', words: /operation added/ },
  'optional-request-property-added': { kinds: ['property-added'], where: 'PUT /things/{id}', words: /optional request body \(application\/json\) property `tags` added/ },
  'response-property-added': { kinds: ['property-added'], where: 'GET /things/{id}', words: /property `weight` added/ },
  'request-enum-value-added': { kinds: ['enum-value-added'], where: 'PUT /things/{id}', words: /enum value `blue` added/ },
  'max-length-raised': { kinds: ['constraint-loosened'], where: 'PUT /things/{id}', words: /maxLength raised from 100 to 200/ },
  'response-status-added': { kinds: ['response-status-added'], where: 'GET /things/{id}', words: /response status 429 added/ },
  'optional-parameter-added': { kinds: ['parameter-added'], where: 'GET /things/{id}', words: /optional query parameter `fields` added/ },
  'request-property-no-longer-required': { kinds: ['property-no-longer-required'], where: 'PUT /things/{id}', words: /`name` no longer required/ },
  'operation-deprecated': { kinds: ['deprecated'], where: 'GET /health', words: /operation deprecated/ },
  'security-alternative-added': { kinds: ['security-added'], where: 'GET /things/{id}', words: /security alternative added/ },
};

describe('each kind of change, one fixture pair each', () => {
  test('every fixture directory is covered below, and the other way round', () => {
    expect(readdirSync(fixtures).sort()).toEqual([...Object.keys(breaking), ...Object.keys(additive)].sort());
  });

  test.each(Object.entries(breaking))('%s is breaking', async (name, want) => {
    const changes = await diffFixture(name);
    expect([...new Set(changes.map((c) => c.kind))].sort()).toEqual([...want.kinds].sort());
    const first = changes.find((c) => c.kind === want.kinds[0])!;
    expect(first.severity).toBe('breaking');
    expect(first.where).toBe(want.where);
    expect(first.message).toMatch(want.words);
  });

  test.each(Object.entries(additive))('%s is additive', async (name, want) => {
    const changes = await diffFixture(name);
    expect(changes.map((c) => c.kind)).toEqual(want.kinds);
    expect(changes.every((c) => c.severity === 'additive')).toBe(true);
    expect(changes[0]!.where).toBe(want.where);
    expect(changes[0]!.message).toMatch(want.words);
  });

  test('a spec compared with itself has no change', async () => {
    for (const file of readdirSync(path.join(repoRoot, 'specs')).filter((f) => f.endsWith('.yaml'))) {
      const spec = await bundleSpec(readFileSync(path.join(repoRoot, 'specs', file), 'utf8'), path.join(repoRoot, 'specs', file));
      expect(diffSpecs(spec, spec)).toEqual([]);
    }
  });

  test('a break under an x-legacy-contract operation or schema names the mark', async () => {
    const dir = path.join(fixtures, 'max-length-lowered');
    const mark = (text: string) =>
      text.replace('operationId: putThing\n', 'operationId: putThing\n      x-legacy-contract: true\n').replace('    ThingInput:\n', '    ThingInput:\n      x-legacy-contract: true\n');
    const [oldSpec, newSpec] = await Promise.all(['old.yaml', 'new.yaml'].map((f) => bundleSpec(mark(readFileSync(path.join(dir, f), 'utf8')), path.join(dir, f))));
    const [change] = diffSpecs(oldSpec, newSpec);
    expect(change!.legacy).toEqual(['putThing', 'ThingInput']);
  });
});

describe('the gate', () => {
  const change: Change = { severity: 'breaking', kind: 'constraint-tightened', where: 'POST /user', message: 'x', legacy: ['createUser'] };
  const changelog = (body: string) => parseChangelog(`# Changelog\n\n## mts-auth\n\n### 2.0.0 — 2026-12-02\n\n${body}\n\n### 1.0.0\n\n- First.\n`);

  test('a major version is needed (a minor one below 1.0.0)', () => {
    expect(allowsBreaking('1.0.0', '2.0.0')).toBe(true);
    expect(allowsBreaking('1.4.2', '1.5.0')).toBe(false);
    expect(allowsBreaking('0.1.0', '0.2.0')).toBe(true);
    expect(allowsBreaking('0.1.0', '0.1.1')).toBe(false);
  });

  test('a break passes only with the major bump, a changelog entry naming it and the override', () => {
    const report = { api: 'mts-auth', file: 'specs/mts-auth.yaml', oldVersion: '1.0.0', newVersion: '2.0.0', changes: [change] };
    const ok = changelog('- **Breaking**: `POST /user` refuses names over 40 characters.');
    expect(judge(report, ok, new Set(['mts-auth createUser']))).toEqual([]);
    expect(judge({ ...report, newVersion: '1.1.0' }, ok, new Set(['mts-auth createUser'])).join('\n')).toMatch(/raise info.version from 1.0.0 to 2.0.0/);
    expect(judge(report, changelog('- Names are shorter.'), new Set(['mts-auth createUser'])).join('\n')).toMatch(/must say "Breaking".*\n.*missing: POST \/user/);
    expect(judge(report, ok, new Set()).join('\n')).toMatch(/Contract-Override: mts-auth createUser/);
    expect(judge(report, ok, new Set(['mint-auth createUser'])).join('\n')).toMatch(/Contract-Override: mts-auth createUser/);
  });

  test('additive changes pass; every current version needs its changelog entry', () => {
    const add: Change = { ...change, severity: 'additive', legacy: [] };
    const report = { api: 'mts-auth', file: 'specs/mts-auth.yaml', oldVersion: '1.0.0', newVersion: '1.0.0', changes: [add] };
    expect(judge(report, changelog(''), new Set())).toEqual([]);
    expect(judge({ ...report, newVersion: '1.1.0' }, changelog(''), new Set()).join('\n')).toMatch(/no entry for mts-auth 1.1.0/);
  });
});

describe('on a git history', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function repo() {
    const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-breaking-'));
    dirs.push(dir);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'main');
    mkdirSync(path.join(dir, 'specs'));
    writeFileSync(path.join(dir, 'specs/mts-auth.yaml'), readFileSync(path.join(repoRoot, 'specs/mts-auth.yaml'), 'utf8').replace(/\n {2}version: \S+\n/, '\n  version: 1.0.0\n'));
    writeFileSync(path.join(dir, 'CHANGELOG.md'), '# Changelog\n\n## mts-auth\n\n### 1.0.0\n\n- First version.\n');
    git('add', '.');
    git('commit', '-qm', 'first');
    return { dir, git };
  }
  const edit = (dir: string, file: string, from: string | RegExp, to: string) => {
    const p = path.join(dir, file);
    const text = readFileSync(p, 'utf8');
    const next = text.replace(from, to);
    expect(next).not.toBe(text);
    writeFileSync(p, next);
  };

  test('the base: merge base on a branch, HEAD^ on main, --base when given, nothing on a first commit', () => {
    const { dir, git } = repo();
    expect(chooseBase(dir)).toBeUndefined();
    const first = git('rev-parse', 'HEAD');
    git('commit', '-q', '--allow-empty', '-m', 'second');
    expect(chooseBase(dir)).toEqual({ sha: first, why: 'HEAD is on main: its previous commit (HEAD^)' });
    const second = git('rev-parse', 'HEAD');
    git('checkout', '-qb', 'topic');
    expect(chooseBase(dir)).toEqual({ sha: second, why: 'merge base with main (HEAD: topic has no commits of its own yet)' });
    git('commit', '-q', '--allow-empty', '-m', 'third');
    git('commit', '-q', '--allow-empty', '-m', 'fourth');
    expect(chooseBase(dir)).toEqual({ sha: second, why: 'merge base with main' });
    expect(chooseBase(dir, first)?.sha).toBe(first);
    expect(() => chooseBase(dir, 'no-such-ref')).toThrow(/no such commit/);
    git('checkout', '-q', '--detach', 'main');
    expect(chooseBase(dir)).toEqual({ sha: first, why: 'HEAD is on main: its previous commit (HEAD^)' });
    git('checkout', '-q', 'topic');
    git('branch', '-qm', 'main', 'old-main');
    git('tag', 'v1.0.0', first);
    expect(chooseBase(dir)).toEqual({ sha: first, why: 'latest tag v1.0.0' });
  });

  test("the issue's example: Name narrowed from 100 to 40 fails until bumped, logged and overridden", async () => {
    const { dir, git } = repo();
    git('checkout', '-qb', 'narrow-name');
    edit(dir, 'specs/mts-auth.yaml', /(\n {4}Name:\n(?: {6}.*\n)*? {6}maxLength: )100/, '$140');
    let base = chooseBase(dir);
    let [report] = await checkBreaking(dir, base);
    const words = format([report!], base);
    expect(words).toMatch(/BREAKING {2}POST \/user: request body \(application\/x-www-form-urlencoded\) property `lastName` \(schema `Name`\): maxLength lowered from 100 to 40/);
    expect(words).toMatch(/BREAKING {2}PUT \/user\/\{id\}: .* property `firstName` \(schema `Name`\): maxLength lowered from 100 to 40/);
    expect(report!.problems.join('\n')).toMatch(/raise info.version from 1.0.0 to 2.0.0/);
    expect(report!.problems.join('\n')).toMatch(/"Contract-Override: mts-auth createUser", "Contract-Override: mts-auth updateUser"/);

    edit(dir, 'specs/mts-auth.yaml', /\n {2}version: 1\.0\.0\n/, '\n  version: 2.0.0\n');
    edit(dir, 'CHANGELOG.md', '## mts-auth\n', '## mts-auth\n\n### 2.0.0\n\n- **Breaking**: names are 40 characters at most (`POST /user`, `PUT /user/{id}`).\n');
    git('commit', '-qam', 'mts-auth: names of 40 characters at most');
    [report] = await checkBreaking(dir, (base = chooseBase(dir)));
    expect(report!.problems).toEqual([expect.stringMatching(/Contract-Override: mts-auth createUser", "Contract-Override: mts-auth updateUser/)]);

    git('commit', '-q', '--allow-empty', '-m', 'mts-auth: accept the shorter names\n\nContract-Override: mts-auth createUser names over 40 characters refused\nContract-Override: mts-auth updateUser same');
    [report] = await checkBreaking(dir, chooseBase(dir));
    expect(report!.problems).toEqual([]);
    expect(report!.changes.filter((c) => c.severity === 'breaking')).toHaveLength(4);
  });
});
