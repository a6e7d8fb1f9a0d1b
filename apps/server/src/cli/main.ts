// polyauth admin CLI: `npm run admin -- <command>`; `--help` lists the commands.
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`polyauth needs Node.js 24 or newer; this is ${process.version}. Run it with \`npm run admin -- ...\`.\n`);
  process.exit(1);
}

// Node's on-disk compile cache (type-stripped and compiled modules; in the
// system temp directory, or NODE_COMPILE_CACHE; off with
// NODE_DISABLE_COMPILE_CACHE=1), enabled before the rest is imported: each
// command is a fresh process, and loading its modules was a third of its time.
module.enableCompileCache();
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
