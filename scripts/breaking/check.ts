// npm run check:breaking [-- --base <ref>]
//
// Compares every spec in specs/ (as it is on disk) with the same spec at a
// base commit and lists each change in words, breaking or additive. Fails
// when a spec has a breaking change and
//   - its info.version major was not raised (minor, for a 0.x version), or
//   - CHANGELOG.md has no entry for that version saying "breaking" and naming
//     every operation it breaks (`POST /user`), or
//   - the change touches a shape marked `x-legacy-contract: true` and no
//     commit since the base carries `Contract-Override: <api> <mark>`.
// It also fails when a spec's current version has no CHANGELOG.md entry.
//
// The base: `--base <ref>`; else, on a branch, its merge base with main
// (`main`, else `origin/main`); on main itself, or detached at a commit of
// main (CI after a merge), the previous commit HEAD^; with no main branch, the latest `v*` tag; with
// nothing to compare against (a first commit), every spec is new.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseChangelog, type ChangelogEntry } from '../../apps/docs/src/changelog.ts';
import { bundleSpec } from './load.ts';
import { diffSpecs, type Change } from './spec-diff.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Base {
  sha: string;
  why: string;
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).trim();
}
function tryGit(args: string[], cwd: string): string | undefined {
  try {
    return git(args, cwd);
  } catch {
    return undefined;
  }
}
const commit = (ref: string, cwd: string) => tryGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], cwd);

/** The commit to compare with (see the header), or undefined when there is none. */
export function chooseBase(cwd: string, explicit?: string): Base | undefined {
  if (explicit !== undefined) {
    const sha = commit(explicit, cwd);
    if (!sha) throw new Error(`--base ${explicit}: no such commit`);
    return { sha, why: `--base ${explicit}` };
  }
  const head = commit('HEAD', cwd);
  if (!head) return undefined;
  for (const main of ['main', 'origin/main']) {
    if (!commit(main, cwd)) continue;
    const mergeBase = tryGit(['merge-base', 'HEAD', main], cwd);
    if (mergeBase && mergeBase !== head) return { sha: mergeBase, why: `merge base with ${main}` };
    if (mergeBase === head) {
      // A branch of its own with no commits yet: its changes are the working tree's.
      const branch = tryGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], cwd);
      if (branch && branch !== 'main') return { sha: head, why: `merge base with ${main} (HEAD: ${branch} has no commits of its own yet)` };
      const parent = commit('HEAD^', cwd);
      return parent ? { sha: parent, why: `HEAD is on ${main}: its previous commit (HEAD^)` } : undefined;
    }
  }
  const tag = tryGit(['describe', '--tags', '--abbrev=0', '--match', 'v*', 'HEAD'], cwd);
  if (tag) return { sha: commit(tag, cwd)!, why: `latest tag ${tag}` };
  const parent = commit('HEAD^', cwd);
  return parent ? { sha: parent, why: 'no main branch and no v* tag: the previous commit (HEAD^)' } : undefined;
}

/** `Contract-Override: <api> <mark>` trailers of the commits after the base (all of HEAD's history without one). */
export function overrides(cwd: string, base: Base | undefined): Set<string> {
  const log = tryGit(['log', '--format=%B%x00', base ? `${base.sha}..HEAD` : 'HEAD'], cwd) ?? '';
  const found = new Set<string>();
  for (const m of log.matchAll(/^Contract-Override:[ \t]*([a-z0-9][a-z0-9-]*)[ \t]+([^\s,;:]+)/gim)) found.add(`${m[1]} ${m[2]}`);
  return found;
}

export interface SpecReport {
  api: string;
  file: string;
  oldVersion: string | undefined;
  newVersion: string | undefined;
  changes: Change[];
  /** What must be done before the change may land; empty = allowed. */
  problems: string[];
}

const versionOf = (spec: Record<string, unknown> | undefined): string | undefined => {
  const info = spec?.info as Record<string, unknown> | undefined;
  return typeof info?.version === 'string' ? info.version : undefined;
};

const semver = (v: string | undefined) => {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
};

/** Whether `next` is a new major version of `prev` (a new minor one below 1.0.0, as semver has it). */
export function allowsBreaking(prev: string | undefined, next: string | undefined): boolean {
  const a = semver(prev);
  const b = semver(next);
  if (!a || !b) return false;
  if (a[0] === 0 && b[0] === 0) return b[1]! > a[1]!;
  return b[0]! > a[0]!;
}

function nextBreakingVersion(prev: string | undefined): string {
  const a = semver(prev);
  if (!a) return '1.0.0';
  return a[0] === 0 ? `0.${a[1]! + 1}.0` : `${a[0]! + 1}.0.0`;
}

/** The gate's verdict on one spec's changes. */
export function judge(
  report: Omit<SpecReport, 'problems'>,
  changelog: Map<string, ChangelogEntry[]> | undefined,
  trailers: Set<string>,
): string[] {
  const { api, oldVersion, newVersion, changes } = report;
  const problems: string[] = [];
  const entry = changelog?.get(api)?.find((e) => e.version === newVersion);
  if (newVersion !== undefined && !entry) {
    problems.push(`CHANGELOG.md has no entry for ${api} ${newVersion}: add "### ${newVersion}" under "## ${api}"`);
  }
  const breaking = changes.filter((c) => c.severity === 'breaking');
  if (!breaking.length) return problems;
  const operations = [...new Set(breaking.map((c) => c.where))];
  if (!allowsBreaking(oldVersion, newVersion)) {
    const next = nextBreakingVersion(oldVersion);
    problems.push(
      `breaking: raise info.version from ${oldVersion} to ${next}, and give ${next} a CHANGELOG.md entry that says "Breaking" and names ${operations.join(', ')}`,
    );
  } else if (entry) {
    const text = `${entry.note}\n${entry.body}`;
    const unnamed = operations.filter((w) => !text.includes(w));
    if (!/breaking/i.test(text)) problems.push(`CHANGELOG.md's ${api} ${newVersion} entry must say "Breaking" and what breaks`);
    if (unnamed.length) problems.push(`CHANGELOG.md's ${api} ${newVersion} entry must name every operation it breaks; missing: ${unnamed.join(', ')}`);
  }
  const marks = [...new Set(breaking.flatMap((c) => c.legacy))];
  const missing = marks.filter((m) => !trailers.has(`${api} ${m}`));
  if (missing.length) {
    problems.push(
      `changes a shape the legacy document fixes (x-legacy-contract): a commit since the base must carry ${missing
        .map((m) => `"Contract-Override: ${api} ${m}"`)
        .join(', ')} (a trailer, with the reason on the line)`,
    );
  }
  return problems;
}

/** Every spec of specs/ on disk against the base. */
export async function checkBreaking(cwd: string, base: Base | undefined): Promise<SpecReport[]> {
  const specsDir = path.join(cwd, 'specs');
  const now = readdirSync(specsDir).filter((f) => f.endsWith('.yaml'));
  const before = base
    ? (tryGit(['ls-tree', '--name-only', base.sha, 'specs/'], cwd) ?? '')
        .split('\n')
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => path.basename(f))
    : [];
  const changelogFile = path.join(cwd, 'CHANGELOG.md');
  const changelog = existsSync(changelogFile) ? parseChangelog(readFileSync(changelogFile, 'utf8')) : undefined;
  const trailers = overrides(cwd, base);
  const files = [...new Set([...before, ...now])].sort();
  return Promise.all(
    files.map(async (name) => {
      const api = name.replace(/\.yaml$/, '');
      const file = path.join(specsDir, name);
      const oldSpec = before.includes(name) ? await bundleSpec(git(['show', `${base!.sha}:specs/${name}`], cwd), file) : undefined;
      const newSpec = now.includes(name) ? await bundleSpec(readFileSync(file, 'utf8'), file) : undefined;
      let changes: Change[];
      if (oldSpec && newSpec) changes = diffSpecs(oldSpec, newSpec);
      else if (newSpec) changes = [{ severity: 'additive', kind: 'path-added', where: `specs/${name}`, message: 'new API', legacy: [] }];
      else changes = diffSpecs(oldSpec, { openapi: '3.1.0', info: oldSpec!.info, paths: {} }).map((c) => ({ ...c, message: `${c.message} (the whole API was removed)` }));
      const partial = { api, file: `specs/${name}`, oldVersion: versionOf(oldSpec), newVersion: versionOf(newSpec), changes };
      return { ...partial, problems: judge(partial, changelog, trailers) };
    }),
  );
}

/** The report as a person reads it. */
export function format(reports: SpecReport[], base: Base | undefined): string {
  const lines = [base ? `check:breaking: specs/ compared with ${base.sha.slice(0, 12)} (${base.why})` : 'check:breaking: no earlier commit to compare with: every spec is new'];
  for (const r of reports) {
    const version = r.oldVersion === r.newVersion ? `${r.newVersion}` : `${r.oldVersion ?? '(new)'} → ${r.newVersion ?? '(removed)'}`;
    const breaking = r.changes.filter((c) => c.severity === 'breaking');
    const additive = r.changes.filter((c) => c.severity === 'additive');
    const counts = r.changes.length ? `${breaking.length} breaking, ${additive.length} additive` : 'no change';
    lines.push('', `${r.api} ${version} (${r.file}): ${counts}`);
    for (const c of [...breaking, ...additive]) {
      const tag = c.severity === 'breaking' ? 'BREAKING' : 'additive';
      const legacy = c.severity === 'breaking' && c.legacy.length ? ` [legacy contract: ${c.legacy.join(', ')}]` : '';
      lines.push(`  ${tag.padEnd(8)}  ${c.where}: ${c.message}${legacy}`);
    }
    for (const p of r.problems) lines.push(`  NOT ALLOWED  ${p}`);
  }
  const failed = reports.filter((r) => r.problems.length);
  const total = reports.reduce((n, r) => n + r.changes.filter((c) => c.severity === 'breaking').length, 0);
  lines.push(
    '',
    failed.length
      ? `check:breaking: FAILED for ${failed.map((r) => r.api).join(', ')} (see NOT ALLOWED above; how to evolve a spec: docs/DESIGN.md)`
      : total
        ? `check:breaking: ok (${total} breaking change${total === 1 ? '' : 's'}, each with its new major version, changelog entry and overrides)`
        : 'check:breaking: ok (no breaking change)',
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let explicit: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--base') explicit = argv[++i];
    else if (arg.startsWith('--base=')) explicit = arg.slice('--base='.length);
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npm run check:breaking [-- --base <ref>]   (default base: merge base with main; on main, HEAD^; else the latest v* tag)');
      return 0;
    } else {
      console.error(`check:breaking: unknown argument ${arg} (usage: --base <ref>)`);
      return 2;
    }
  }
  if (argv.includes('--base') && explicit === undefined) {
    console.error('check:breaking: --base needs a ref');
    return 2;
  }
  const base = chooseBase(root, explicit);
  if (!base && tryGit(['rev-parse', '--is-shallow-repository'], root) === 'true') {
    console.error('check:breaking: this is a shallow clone, so there is nothing to compare with: fetch the history (git fetch --unshallow; actions/checkout with fetch-depth: 0)');
    return 2;
  }
  const reports = await checkBreaking(root, base);
  console.log(format(reports, base));
  return reports.some((r) => r.problems.length) ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`check:breaking: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
