// Child process of adminSession() (server-process.mjs): runs admin CLI
// commands in-process, one at a time, as `polyauth <args> --json` would, and
// answers each over IPC with {id, code, out, err}. One process for all the
// fixtures instead of one per command: node, the CLI's modules and PGlite's
// WASM load once. Every command still opens and closes the database itself
// (runner.ts), so nothing is held open between commands.
import { CommanderError } from 'commander';
import { buildProgram } from '../../apps/server/src/cli/program.ts';

// As the CLI's main.ts: libraries that console.log write to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const stdoutWrite = process.stdout.write.bind(process.stdout);
const stderrWrite = process.stderr.write.bind(process.stderr);
let queue = Promise.resolve();

async function runOne(args) {
  let out = '';
  let err = '';
  process.stdout.write = (chunk) => ((out += chunk), true);
  process.stderr.write = (chunk) => ((err += chunk), true);
  process.exitCode = 0;
  try {
    await buildProgram().parseAsync(['node', 'polyauth', ...args], { from: 'node' });
  } catch (e) {
    if (!(e instanceof CommanderError)) {
      err += `${e?.stack ?? e}\n`;
      process.exitCode = 1;
    } else if (e.exitCode !== 0) {
      process.exitCode = 2;
    }
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out, err };
}

process.on('message', (msg) => {
  queue = queue.then(async () => process.send({ id: msg.id, ...(await runOne(msg.args)) }));
});
process.on('disconnect', () => {
  queue.finally(() => process.exit(0));
});
