// Builds the published package into dist/: ESM JavaScript and .d.ts for
// Node 20+ and browsers.
//
// The client's types name the generated API types (@polyauth/api-types, a
// private workspace package), so their declarations ship inside this package
// (dist/api-types/) and the client's .d.ts import them by relative path: a
// project that installs only this package's tarball type-checks. The
// generated types are type-only for the client: no JavaScript of them ships.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');

function run(args) {
  try {
    execFileSync(process.execPath, [tsc, ...args], { cwd: here, stdio: 'inherit' });
  } catch {
    console.error(`@polyauth/client: tsc ${args.join(' ')} failed (its errors are above)`);
    process.exit(1);
  }
}

rmSync(dist, { recursive: true, force: true });

// 1. The generated types as declarations, dist/api-types/*.d.ts. The
// generated files are type declarations already (interfaces and type
// aliases), so each is copied; of index.ts only its `export type * as`
// lines are kept (its run-time list of API ids is not the client's).
const apiTypesSrc = path.join(here, '../api-types/src');
mkdirSync(path.join(dist, 'api-types'), { recursive: true });
// apis.ts, the server's table of APIs (ids, mounts, operations by id), is not
// the client's either: its mounts come from its own generated src/mounts.ts.
for (const f of readdirSync(apiTypesSrc).filter((n) => n.endsWith('.ts') && n !== 'apis.ts')) {
  let text = readFileSync(path.join(apiTypesSrc, f), 'utf8');
  if (f === 'index.ts') {
    text = text.split('\n').filter((line) => line.startsWith('//') || line.startsWith('export type * as ')).join('\n') + '\n';
  } else if (/^\s*export\s+(declare\s+)?(const|let|var|function|class|enum)\b/m.test(text)) {
    throw new Error(`${f} declares a value; the client ships only the generated types`);
  }
  writeFileSync(path.join(dist, 'api-types', f.replace(/\.ts$/, '.d.ts')), text);
}

// 2. The client, type-checked against those declarations.
run(['-p', 'tsconfig.build.json']);

// 3. Declarations: tsc keeps the sources' `./x.ts` specifiers there; point
// them at the emitted `./x.js` (whose .d.ts sits beside it), and point the
// client's at the shipped copy of the API types (all of dist/ is flat).
const API_TYPES = /(['"])@polyauth\/api-types\1/g;
const RELATIVE_TS = /(['"])(\.\.?\/[^'"]+)\.ts\1/g;
function rewrite(dir, top) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) rewrite(file, false);
    else if (entry.name.endsWith('.js')) {
      if (/@polyauth\/api-types/.test(readFileSync(file, 'utf8'))) throw new Error(`${file} imports @polyauth/api-types at run time`);
    } else if (entry.name.endsWith('.d.ts')) {
      let text = readFileSync(file, 'utf8').replace(RELATIVE_TS, '$1$2.js$1');
      if (top) text = text.replace(API_TYPES, '$1./api-types/index.js$1');
      if (/@polyauth\//.test(text)) throw new Error(`${file} still names a workspace package`);
      writeFileSync(file, text);
    }
  }
}
rewrite(dist, true);
console.log(`@polyauth/client built into ${path.relative(process.cwd(), dist) || '.'}`);
