// polyauth admin CLI: `npm run admin -- <command>`; `--help` lists the commands.
import { CommanderError } from 'commander';
import { buildProgram } from './program.ts';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`polyauth needs Node.js 24 or newer; this is ${process.version}. Run it with \`npm run admin -- ...\`.\n`);
  process.exit(1);
}

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
