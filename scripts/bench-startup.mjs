#!/usr/bin/env node
// npm run bench:startup [-- --runs 3 --store pglite|postgres]
//
// What a developer waits for and what the server holds at rest, measured on
// the real processes (`node apps/server/src/main.mjs`, the admin CLI) and
// printed beside their targets; a report, never a test:
//   start to ready   spawn → first 200 from /readyz, on a warm store
//   first start      the same on an empty store (migrations, first-run set-up)
//   admin command    `user list --json`, spawn → exit, on a warm store
//   memory at rest   resident set (VmRSS) 5 s after ready, nothing sent
// The embedded store (PGlite) always; Postgres too when DATABASE_URL is set.
// On the embedded store, PGlite alone too (scripts/lib/pglite-floor.mjs: the
// same warm store opened by a bare process with the server's settings): the
// floor under the targets that polyauth's own code cannot go below.
import './check-node.mjs';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { adminRunner, freshDatabase, repoRoot, runCleanups, serverEnv, serverNodeEnv, serverNodeFlags, startProcess } from './lib/server-process.mjs';

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, store: { type: 'string', multiple: true } },
});
const runs = Number(opts.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number ≥ 1');
const postgresUrl = process.env.DATABASE_URL;
const stores = opts.store ?? ['pglite', ...(postgresUrl ? ['postgres'] : [])];

const TARGETS = {
  pglite: { ready: 1.5, admin: 1.5, rssMb: 250 },
  postgres: { ready: 1.5, admin: 1.5, rssMb: 150 },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rssMb = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

async function timeStart(env) {
  const t0 = performance.now();
  const srv = await startProcess({ env, timeoutMs: 180_000 });
  return { srv, ms: performance.now() - t0 };
}

async function measure(kind) {
  const db = await freshDatabase({ kind, postgresUrl, label: 'startup' });
  const env = serverEnv({ ...db.env, NODE_ENV: 'development', BCRYPT_COST: '10' });
  const first = await timeStart(env);
  await first.srv.stop();

  const readies = [];
  const rss = [];
  for (let i = 0; i < runs; i += 1) {
    const { srv, ms } = await timeStart(env);
    readies.push(ms);
    await new Promise((r) => setTimeout(r, 5000));
    rss.push(rssMb(srv.pid));
    await srv.stop();
  }

  const admin = adminRunner(env);
  const admins = [];
  for (let i = 0; i < runs; i += 1) {
    const t0 = performance.now();
    await admin('user', 'list');
    admins.push(performance.now() - t0);
  }
  let floor;
  if (kind === 'pglite') {
    const floors = [];
    for (let i = 0; i < runs; i += 1) {
      const { stdout } = await promisify(execFile)(process.execPath, [...serverNodeFlags, path.join(repoRoot, 'scripts/lib/pglite-floor.mjs')], { cwd: repoRoot, env: { ...serverNodeEnv, ...env } });
      floors.push(JSON.parse(stdout));
    }
    floor = { openMs: median(floors.map((f) => f.openMs)), rssMb: median(floors.map((f) => f.rssMb)) };
  }
  await db.drop();
  return { first: first.ms, ready: median(readies), admin: median(admins), rssMb: median(rss), floor };
}

try {
  const rows = [];
  for (const kind of stores) {
    const m = await measure(kind);
    const t = TARGETS[kind];
    const mark = (ok) => (ok ? 'ok  ' : 'MISS');
    rows.push(
      [`${kind}: start to ready (warm)`, seconds(m.ready), `≤ ${t.ready} s`, mark(m.ready <= t.ready * 1000)],
      [`${kind}: first start (empty store)`, seconds(m.first), '', ''],
      [`${kind}: admin command (user list)`, seconds(m.admin), `≤ ${t.admin} s`, mark(m.admin <= t.admin * 1000)],
      [`${kind}: memory at rest (RSS)`, `${m.rssMb.toFixed(0)} MB`, `≤ ${t.rssMb} MB`, mark(m.rssMb <= t.rssMb)],
    );
    if (m.floor) {
      rows.push(
        [`${kind} alone: open to select 1 (floor)`, seconds(m.floor.openMs), `of the ${t.ready} s`, ''],
        [`${kind} alone: memory at rest (floor)`, `${m.floor.rssMb.toFixed(0)} MB`, `of the ${t.rssMb} MB`, ''],
      );
    }
  }
  console.log(`\nstart-up and memory, median of ${runs} runs (a report: nothing here fails the run)\n`);
  for (const [name, value, target, mark] of rows) console.log(`  ${mark.padEnd(4)}  ${name.padEnd(38)} ${value.padStart(9)}   ${target}`);
} finally {
  await runCleanups();
}
