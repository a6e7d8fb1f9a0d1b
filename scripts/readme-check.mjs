// Plays the README's Quick start on a fresh clone, as a newcomer would:
// every ```sh block of the "Quick start" section, in order, verbatim but for
// three things it says aloud: the port (a free one instead of 3000), the
// development client's id and secret (read from what the first `npm start`
// printed, where the reader pastes them), and `npm test` (CI runs it in its
// own step). `npm start` runs in the background until a block that needs the
// server stopped (the Admin CLI one, which says so); every other line runs
// in bash with -euo pipefail, so a failing command fails the check.
//
//   node scripts/readme-check.mjs            # clones HEAD of this repository
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/server-process.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();

/** The ```sh blocks between `## Quick start` and the next `## ` heading. */
export function quickStartBlocks(readme) {
  const from = readme.indexOf('\n## Quick start');
  if (from < 0) throw new Error('README.md has no "## Quick start" section');
  const rest = readme.slice(from + 1);
  const next = rest.indexOf('\n## ', 1);
  const section = next < 0 ? rest : rest.slice(0, next);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

function fail(message) {
  console.error(`readme-check: FAILED: ${message}`);
  cleanup();
  process.exit(1);
}

let server;
let work;
function cleanup() {
  if (server && server.exitCode === null) {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => fail('interrupted'));

const port = await freePort();
work = mkdtempSync(path.join(tmpdir(), 'polyauth-readme-'));
const clone = path.join(work, 'polyauth');
execFileSync('git', ['clone', '-q', repo, clone], { stdio: 'inherit' });
console.log(`readme-check: fresh clone of ${execFileSync('git', ['-C', clone, 'rev-parse', '--short', 'HEAD']).toString().trim()} in ${clone}, port ${port}`);

// The reader's environment: no database or port settings of the machine's.
const env = { ...process.env, PORT: String(port) };
for (const name of ['DATABASE_URL', 'DATABASE_DIRECT_URL', 'DATA_DIR', 'NODE_ENV', 'JWT_SECRET', 'TOTP_ENCRYPTION_KEY', 'TOTP_ENCRYPTION_KEYS_OLD', 'HOST', 'PUBLIC_URL', 'LOG_LEVEL', 'npm_config_prefix']) delete env[name];

const blocks = quickStartBlocks(readFileSync(path.join(clone, 'README.md'), 'utf8')).map((b) => b.replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`));
if (blocks.length < 3) fail(`expected at least 3 sh blocks in Quick start, found ${blocks.length}`);

let printed = '';
let credentials;

function bash(script, label) {
  console.log(`\n--- ${label}\n${script.trim()}\n---`);
  try {
    execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: clone, env, stdio: 'inherit', timeout: 1_200_000 });
  } catch (err) {
    fail(`${label} exited ${err.status ?? err.signal}`);
  }
}

let starts = 0;
async function startServer() {
  console.log('\n--- npm start (in the background)');
  const t0 = Date.now();
  server = spawn('npm', ['start'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => (printed += d));
  server.stderr.on('data', (d) => (printed += d));
  const deadline = Date.now() + 300_000;
  while (!/polyauth is listening/.test(printed)) {
    if (server.exitCode !== null) fail(`npm start exited ${server.exitCode}:\n${printed}`);
    if (Date.now() > deadline) fail(`npm start did not listen within 300 s:\n${printed}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const id = /OAuth client[^\n]*id: (\S+)\s+secret: (\S+)/.exec(printed);
  if (!id) fail(`the first start printed no development OAuth client:\n${printed}`);
  credentials = { id: id[1], secret: id[2] };
  starts += 1;
  // A report, not a check: the first start on a fresh clone builds the docs
  // and creates the embedded store (target: 20 s on a 2-core machine).
  const label = starts === 1 ? 'first npm start on a fresh clone (docs build, new embedded store; target ≤ 20 s)' : 'npm start';
  console.log(`npm start: listening; development client ${credentials.id}`);
  console.log(`TIME ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s to "polyauth is listening"`);
}

async function stopServer() {
  if (!server) return;
  console.log('\n--- stopping the server (Ctrl-C)');
  process.kill(-server.pid, 'SIGINT');
  const code = await new Promise((resolve) => (server.exitCode !== null ? resolve(server.exitCode) : server.on('exit', (c, s) => resolve(c ?? s))));
  server = undefined;
  console.log(`server stopped (${code})`);
}

for (const [i, block] of blocks.entries()) {
  const label = `Quick start block ${i + 1}`;
  if (/^npm start\b/m.test(block)) {
    const before = [];
    for (const line of block.split('\n')) {
      if (/^npm start\b/.test(line)) {
        if (before.length) bash(before.join('\n'), `${label} (before npm start)`);
        await startServer();
        before.length = 0;
      } else if (/^npm test\b/.test(line)) {
        console.log(`(${label}: \`npm test\` is not replayed here; CI runs it in a step of its own)`);
      } else {
        before.push(line);
      }
    }
    if (before.some((l) => l.trim() && !l.trim().startsWith('#'))) bash(before.join('\n'), `${label} (after npm start)`);
    continue;
  }
  // the embedded store is one process's at a time: the CLI needs the server stopped, as the README says
  if (/^(npm run (--silent )?admin|npx polyauth)\b/m.test(block)) await stopServer();
  let script = block;
  if (script.includes('<client id>')) {
    if (!credentials) fail(`${label} needs the development client, but nothing started the server before it`);
    script = script.replace("'<client id>'", `'${credentials.id}'`).replace("'<client secret>'", `'${credentials.secret}'`);
  }
  bash(script, label);
}
await stopServer();
cleanup();
console.log(`\nreadme-check: the Quick start played verbatim (${blocks.length} blocks) in ${Math.round((Date.now() - started) / 1000)} s`);
