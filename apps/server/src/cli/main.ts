// polyauth admin CLI: `npm run admin -- <command>`; `--help` lists the commands.
//
// `npm run admin` and the `polyauth` bin start Node with --liftoff-only:
// WebAssembly (the embedded store is Postgres compiled to it) then runs on
// V8's baseline compiler only. A command lives a second or so; without the
// flag V8's optimizing compiler took PGlite's largest functions on a
// background thread that the process then waited for at exit: 3.6 s and
// 670 MB at peak for `user list`, against 1.5 s and 220 MB with it (see
// docs/DECISIONS.md). V8 reads the flag only from the command line.
import { enableCompileCache } from '../compile-cache.mjs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`polyauth needs Node.js 24 or newer; this is ${process.version}. Run it with \`npm run admin -- ...\`.\n`);
  process.exit(1);
}

// Node's on-disk compile cache (compile-cache.mjs), on before the rest is
// imported: each command is a fresh process (its modules load in about
// 0.4 s from the cache, 0.6 s without). bin/polyauth.mjs, which `npm run
// admin` runs, has already turned it on; this is for `node` on this file.
enableCompileCache();
const { CommanderError } = await import('commander');
const { buildProgram } = await import('./program.ts');

// stdout carries only the command's result (one JSON document with --json);
// libraries that log with console.log (knex does, for its warnings) go to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // Help and version exit 0; every other parse failure is a usage error (the
  // message is already on stderr).
  if (err.exitCode !== 0) {
    if (process.argv.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ error: err.message.replace(/^error: /, '') })}\n`);
    }
    process.exitCode = 2;
  }
}
// Everything is closed by now; do not let a stray handle keep the process alive.
setTimeout(() => process.exit(), 5_000).unref();
