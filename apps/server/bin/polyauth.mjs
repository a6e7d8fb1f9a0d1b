#!/usr/bin/env -S node --liftoff-only
// The `polyauth` admin command: `npx polyauth --help` in this repository
// (npx, like npm scripts, puts the node@24 devDependency first on PATH), and
// what `npm run admin` runs. --liftoff-only: see apps/server/src/cli/main.ts.
// The compile cache is turned on here, before the CLI's TypeScript loads, so
// that a warm command never loads Node's type stripper (see compile-cache.mjs).
import { enableCompileCache } from '../src/compile-cache.mjs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`polyauth needs Node.js 24 or newer; this is ${process.version}. Run it with \`npx polyauth\` or \`npm run --silent admin -- ...\`.\n`);
  process.exit(1);
}
enableCompileCache();
await import('../src/cli/main.ts');
