#!/usr/bin/env -S node --liftoff-only
// The `polyauth` admin command: `npx polyauth --help` in this repository
// (npx, like npm scripts, puts the node@24 devDependency first on PATH).
// --liftoff-only: see apps/server/src/cli/main.ts.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`polyauth needs Node.js 24 or newer; this is ${process.version}. Run it with \`npx polyauth\` or \`npm run --silent admin -- ...\`.\n`);
  process.exit(1);
}
await import('../src/cli/main.ts');
