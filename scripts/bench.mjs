#!/usr/bin/env node
// npm run bench [-- --duration 5 --rounds 5 --check --store pglite|postgres|pgbouncer --only <api> --probe-rate 200]
//
// Measures, in one run and side by side:
//  (a) the bcrypt bound: compares/s of the server's own PasswordHasher (same
//      piscina pool, same BCRYPT_COST and BCRYPT_POOL_SIZE) in this process,
//      then every bcrypt-bound row (logins) as req/s and ratio to it;
//  (b) for every cheap authenticated row, its own baseline: a bare Express 5
//      app in a child process like the server, sent the row's very requests
//      and answering each with the status, headers and JSON the server
//      answered it in the preflight, reading a request body with Express's
//      own parser for its type (scripts/bench/_bare-express.mjs); the row
//      and its baseline run in alternating rounds (--rounds, 5 by default,
//      of duration/rounds each), and the row is reported as req/s and ratio
//      to the baseline over the same total time, and beside that (reported,
//      not checked) the CPU each side spent a request in those rounds, from
//      /proc: the server with its Postgres backends against the bare app;
//  (c) p50/p99 of every row;
//  (d) p99 of each cheap row at a fixed probe rate while every login row
//      runs at the same time (sharing one login row's connections, so the
//      bcrypt pool is saturated without an ever deeper queue);
//  (e) with DATABASE_URL and pgbouncer installed (--store pgbouncer): each
//      cheap row through pgbouncer in transaction mode against one instance,
//      then two (connections split evenly), with the ratio 2 ÷ 1, and what
//      bounds it, measured: the cores each process (both instances,
//      pgbouncer, every Postgres backend, the load generator, other work on
//      the machine) kept busy meanwhile, from /proc.
// Defaults (5 s runs after 1 s warm-up): both stores in ~5 minutes on an idle 2-core machine.
// The server is the real one (`node apps/server/src/main.mjs`, NODE_ENV=production,
// LOG_LEVEL=warn) on a fresh embedded store in a temp dir, then, when
// DATABASE_URL is set, again on a fresh Postgres database that is dropped at
// the end. Its login throttle stays on with limits raised far out of reach
// (THROTTLE_*_MAX_FAILURES=1000000): the rows only send valid logins, which
// never count as failures, and the throttle's reads and writes stay measured.
// A row whose run saw a non-2xx answer, an error, a timeout or a body its
// row rejects is reported INVALID, never as throughput.
//
// Rows come from scripts/bench/<api>.mjs:
//   export const api = '<api id>';
//   export async function prepare({ admin }) → fixtures   (optional, before the server starts)
//   export async function setup({ baseUrl, fixtures, request }) → rows
// a row: { name, bound: 'bcrypt'|'route', target?, connections?, verifyBody?,
//          requests: [autocannon request objects (method, path, headers, body, setupRequest…)] }
// request(method, path, { headers, form, body }) → { status, headers, body, json }.
//
// Exit code 0 unless something broke (the bench is a report); with --check,
// 1 when a target is missed.
import './check-node.mjs';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadConfig } from '../apps/server/src/config.ts';
import { PasswordHasher } from '../apps/server/src/identity/passwords.ts';
import { findPgbouncer, startPgbouncer } from './lib/pgbouncer.mjs';
import { adminRunner, freshDatabase, loadApiModules, repoRoot, runCleanups, serverEnv, startProcess } from './lib/server-process.mjs';

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string' },
    check: { type: 'boolean', default: false },
    store: { type: 'string', multiple: true },
    only: { type: 'string', multiple: true },
    'probe-rate': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
  },
});

const DEFAULT_TARGETS = { bcrypt: 0.85, route: 0.5 };
const P99_UNDER_LOGINS_TARGET_MS = 50;
const ROUTE_CONNECTIONS = 16;
/** Logins in flight for a login row: twice the pool, so no bcrypt thread ever waits for work. */
const loginConnections = () => Math.max(4, poolSize * 2);

const duration = Number(opts.duration);
const warmup = opts.warmup === undefined ? Math.min(2, Math.max(1, Math.round(duration / 5))) : Number(opts.warmup);
const probeRate = Number(opts['probe-rate']);
const rounds = Number(opts.rounds);
for (const [name, v] of [['--duration', duration], ['--warmup', warmup], ['--probe-rate', probeRate], ['--rounds', rounds]]) {
  if (!Number.isFinite(v) || v < (name === '--warmup' ? 0 : 1)) throw new Error(`${name} must be a positive number`);
}

const color = process.stdout.isTTY ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_c, s) => s;
const green = (s) => color(32, s);
const red = (s) => color(31, s);
const dim = (s) => color(2, s);
const fmt = (n, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

// The server's own reading of BCRYPT_COST / BCRYPT_POOL_SIZE, defaults included.
const serverConfig = loadConfig({
  NODE_ENV: 'production',
  JWT_SECRET: 'x'.repeat(32),
  TOTP_ENCRYPTION_KEY: '0'.repeat(64),
  BCRYPT_COST: process.env.BCRYPT_COST,
  BCRYPT_POOL_SIZE: process.env.BCRYPT_POOL_SIZE,
});
const cost = serverConfig.bcryptCost;
const poolSize = serverConfig.bcryptPoolSize;

// ---------------------------------------------------------------- measuring

/** (a) compares/s of the server's PasswordHasher, every pool thread busy. */
async function bcryptBound(seconds) {
  const hasher = new PasswordHasher({ cost, poolSize });
  try {
    const password = 'bench password 0123';
    const hash = await hasher.hash(password);
    const inFlight = poolSize * 2;
    const burn = async (until) => {
      let n = 0;
      const one = async () => {
        while (performance.now() < until) {
          if (!(await hasher.compare(password, hash))) throw new Error('bcrypt compare returned false');
          n += 1;
        }
      };
      await Promise.all(Array.from({ length: inFlight }, one));
      return n;
    };
    await burn(performance.now() + warmup * 1000); // starts every pool thread
    const start = performance.now();
    const n = await burn(start + seconds * 1000);
    // Every compare that finished counts, over the time until the last one did.
    return { rate: n / ((performance.now() - start) / 1000), compares: n };
  } finally {
    await hasher.close();
  }
}

function summarize(r) {
  const problems = [];
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx (${Object.entries(r.statusCodeStats ?? {}).map(([s, v]) => `${s}×${v.count}`).join(' ')})`);
  if (r.errors > 0) problems.push(`${r.errors} errors`);
  if (r.timeouts > 0) problems.push(`${r.timeouts} timeouts`);
  if (r.mismatches > 0) problems.push(`${r.mismatches} bodies rejected`);
  if (r['2xx'] === 0) problems.push('no 2xx answer');
  return {
    rps: r.requests.total / r.duration,
    total: r.requests.total,
    seconds: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: r['2xx'],
    problems,
    valid: problems.length === 0,
  };
}

/**
 * One autocannon run after a warm-up run of the same load. A login row's
 * queued logins are drained after each (see drainLogins), so neither the
 * warm-up's leftovers count against the run nor the run's against what follows.
 */
async function load({ baseUrl, row, seconds, connections, overallRate, warm = true }) {
  const options = {
    url: baseUrl,
    connections: connections ?? row.connections ?? (row.bound === 'bcrypt' ? loginConnections() : ROUTE_CONNECTIONS),
    requests: row.requests,
    verifyBody: row.verifyBody,
    overallRate,
    timeout: 20,
  };
  const drain = () => (row.bound === 'bcrypt' ? drainLogins(baseUrl, row) : undefined);
  if (warm && warmup > 0) {
    await autocannon({ ...options, duration: warmup });
    await drain();
  }
  const result = await autocannon({ ...options, duration: seconds });
  await drain();
  return summarize(result);
}

/** A plain HTTP call for the bench modules' setup. */
async function request(baseUrl, method, urlPath, { headers = {}, form, body } = {}) {
  const h = { ...headers };
  let payload = body;
  if (form) {
    payload = new URLSearchParams(form).toString();
    h['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  const res = await fetch(baseUrl + urlPath, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), body: text, json };
}

/**
 * Waits until the server has finished the logins a run left queued (autocannon
 * stops sending, the server does not stop working): one more login queues
 * behind them in the first-come, first-served bcrypt pool, so its answer
 * comes after theirs. Keeps that work out of the next measurement, and out of
 * the server's shutdown drain.
 */
async function drainLogins(baseUrl, row) {
  const r = row.requests[0];
  await request(baseUrl, r.method ?? 'GET', r.path ?? '/', { headers: r.headers, body: r.body });
}

/** Response headers a bare answer must not copy: per-connection, per-answer or computed by Node. */
const UNCOPIED_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'content-encoding', 'etag']);

/**
 * Each request of a row once, before measuring: a broken row says why.
 * Returns what each request was answered (status, headers, parsed JSON), the
 * answers a route row's bare baseline gives.
 */
async function preflight(baseUrl, row) {
  const answers = [];
  for (const r of row.requests) {
    const method = r.method ?? 'GET';
    const res = await request(baseUrl, method, r.path ?? '/', { headers: r.headers, body: r.body });
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${row.name}: ${method} ${r.path} answered ${res.status}: ${res.body.slice(0, 300)}`);
    }
    if (row.verifyBody && !row.verifyBody(res.body)) throw new Error(`${row.name}: the row rejects the body ${res.body.slice(0, 300)}`);
    const headers = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !UNCOPIED_HEADERS.has(k)));
    answers.push({ method, path: new URL(r.path ?? '/', baseUrl).pathname, status: res.status, headers, body: res.json });
  }
  return answers;
}

/**
 * (b) a route row's baseline: a bare Express 5 app, in a child process like
 * the server, sent the row's own requests and answering them with the JSON
 * the server answered in the preflight (the first answer per method and
 * path), reading a request body as any Express route must, with Express's
 * own parser for its type (scripts/bench/_bare-express.mjs).
 */
async function startBareExpress(row, answers) {
  const routes = [];
  for (const a of answers) {
    if (a.body === undefined) throw new Error(`${row.name}: the bare baseline needs a JSON answer (${a.method} ${a.path} answered none)`);
    if (!routes.some((r) => r.method === a.method && r.path === a.path)) routes.push(a);
  }
  return startProcess({
    env: serverEnv({ NODE_ENV: 'production', BARE_ROUTES: JSON.stringify(routes) }),
    script: path.join(repoRoot, 'scripts/bench/_bare-express.mjs'),
    readyPath: '/_bare/ready',
    name: 'bare express',
  });
}

/** Several runs as one: requests over time, the median p50, the worst p99, every problem. */
function combine(runs) {
  const total = runs.reduce((n, r) => n + r.total, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const p50s = runs.map((r) => r.p50).sort((a, b) => a - b);
  const problems = runs.flatMap((r) => r.problems);
  return {
    rps: total / seconds,
    total,
    seconds,
    p50: p50s[Math.floor(p50s.length / 2)],
    p99: Math.max(...runs.map((r) => r.p99)),
    problems,
    valid: problems.length === 0,
  };
}

/**
 * A route row and its bare baseline side by side: after a warm-up of each,
 * `rounds` short runs of each in turn (bare first in odd rounds, the server
 * first in even ones), so that a change in the machine's speed, which on a
 * shared 2-core VM swings a single 5 s figure by a fifth, falls on both
 * alike. The ratio is the server's requests over the baseline's in the same
 * total time; each round's own ratio is kept to show the spread.
 *
 * Beside it, what each side's requests cost in CPU, from /proc over the same
 * rounds: the bare process, and the server process plus, on Postgres, every
 * postgres process (its backends). The load generator is not counted on
 * either side, so this ratio (bare cost ÷ server cost) is not bounded by the
 * load generator sharing the machine, as the throughput ratio can be. It is
 * reported, not checked: the targets are on throughput.
 */
async function sideBySide(server, row, answers, { withPostgres }) {
  const bare = await startBareExpress(row, answers);
  try {
    const slice = duration / rounds;
    const hasProc = existsSync('/proc/self/stat');
    const cpuOf = (side) => (hasProc ? cpuSecondsOf(side.pid) + (side === server && withPostgres ? postgresCpuSeconds() : 0) : 0);
    const run = async (side) => {
      const before = cpuOf(side);
      const result = await load({ baseUrl: side.baseUrl, row, seconds: slice, warm: false });
      return { ...result, cpuSeconds: cpuOf(side) - before };
    };
    if (warmup > 0) {
      await load({ baseUrl: bare.baseUrl, row, seconds: warmup, warm: false });
      await load({ baseUrl: server.baseUrl, row, seconds: warmup, warm: false });
    }
    const bareRuns = [];
    const serverRuns = [];
    for (let i = 0; i < rounds; i += 1) {
      if (i % 2 === 0) {
        bareRuns.push(await run(bare));
        serverRuns.push(await run(server));
      } else {
        serverRuns.push(await run(server));
        bareRuns.push(await run(bare));
      }
    }
    const b = combine(bareRuns);
    if (!b.valid) throw new Error(`the bare Express baseline of ${row.name} failed: ${b.problems.join(', ')}`);
    const r = combine(serverRuns);
    // Without /proc (not Linux) there is no cost to report.
    const usPerRequest = (runs, total) => (hasProc && total > 0 ? (runs.reduce((n, x) => n + x.cpuSeconds, 0) * 1e6) / total : undefined);
    const cost = { server: usPerRequest(serverRuns, r.total), bare: usPerRequest(bareRuns, b.total) };
    return { bare: b, row: r, perRound: serverRuns.map((x, i) => x.rps / bareRuns[i].rps), cost };
  } finally {
    await bare.stop();
  }
}

// ---------------------------------------------------------------- one store

async function benchStore(kind, modules, results) {
  const started = performance.now();
  const postgresUrl = process.env.DATABASE_URL?.trim();
  const db = await freshDatabase({ kind, postgresUrl, label: 'bench' });
  const env = serverEnv({
    ...db.env,
    BCRYPT_COST: String(cost),
    BCRYPT_POOL_SIZE: String(poolSize),
    THROTTLE_ACCOUNT_MAX_FAILURES: '1000000',
    THROTTLE_IP_MAX_FAILURES: '1000000',
    THROTTLE_REGISTRATIONS_PER_HOUR: '1000000',
  });
  const label = kind === 'postgres' ? 'postgres' : 'pglite';
  console.log(`\n== ${label}: ${kind === 'postgres' ? `fresh database ${db.name}` : `embedded store in ${db.env.DATA_DIR}`}`);
  const admin = adminRunner(env);
  const fixtures = {};
  for (const m of modules) if (typeof m.prepare === 'function') fixtures[m.api] = await m.prepare({ admin });
  console.log(dim(`  fixtures made with the admin CLI in ${fmt((performance.now() - started) / 1000)} s`));

  const server = await startProcess({ env });
  try {
    const rows = [];
    for (const m of modules) {
      const made = await m.setup({ baseUrl: server.baseUrl, fixtures: fixtures[m.api], request: (...a) => request(server.baseUrl, ...a) });
      for (const row of made) {
        if (!['bcrypt', 'route'].includes(row.bound)) throw new Error(`${m.api}: row ${row.name} has bound ${row.bound}`);
        rows.push({ ...row, api: m.api, target: row.target ?? DEFAULT_TARGETS[row.bound] });
      }
    }
    const answers = new Map();
    for (const row of rows) answers.set(row, await preflight(server.baseUrl, row));

    // (a)(c) the bcrypt bound, then each login row alone; (b)(c) each cheap
    // row and its bare Express baseline in alternating rounds. Each bound is
    // measured right before or between its rows, so load from elsewhere on
    // the machine drifts as little as possible between a bound and the rows
    // compared with it.
    for (const bound of ['bcrypt', 'route']) {
      const group = rows.filter((r) => r.bound === bound);
      if (group.length === 0) continue;
      let boundRate;
      if (bound === 'bcrypt') {
        const b = await bcryptBound(duration);
        boundRate = b.rate;
        console.log(`  bcrypt bound: ${fmt(b.rate, 2)} compares/s (${b.compares} compares, cost ${cost}, ${poolSize} threads)`);
        results.push({ store: label, name: `bcrypt compare, cost ${cost}, ${poolSize} threads`, kind: 'bound', rps: b.rate, valid: true });
      }
      for (const row of group) {
        let m;
        if (bound === 'route') {
          const side = await sideBySide(server, row, answers.get(row), { withPostgres: kind === 'postgres' });
          const b = side.bare;
          boundRate = b.rps;
          m = { ...side.row, rounds: side.perRound, cpuUs: side.cost.server, boundCpuUs: side.cost.bare };
          const name = `bare Express 5, ${row.name}'s answer`;
          const cpu = side.cost.bare === undefined ? '' : `, ${fmt(side.cost.bare, 1)} µs CPU a request`;
          console.log(`  ${name}: ${fmt(b.rps, 1)} req/s, p50 ${b.p50} ms, p99 ${b.p99} ms${cpu}`);
          results.push({ store: label, name, kind: 'bound', ...b, cpuUs: side.cost.bare });
        } else {
          m = await load({ baseUrl: server.baseUrl, row, seconds: duration });
        }
        const ratio = m.valid && boundRate ? m.rps / boundRate : undefined;
        const pass = ratio !== undefined && ratio >= row.target;
        results.push({ store: label, name: row.name, kind: row.bound, ...m, bound: boundRate, ratio, target: `≥ ${row.target}×`, pass });
        console.log(
          `  ${m.valid ? '' : red('INVALID ')}${row.name}: ${fmt(m.rps, 1)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms` +
            (ratio !== undefined ? `, ${fmt(ratio, 2)}× the ${row.bound} bound` : '') +
            (m.cpuUs !== undefined && m.boundCpuUs !== undefined ? `, ${fmt(m.cpuUs, 1)} µs CPU a request (cost ratio ${fmt(m.boundCpuUs / m.cpuUs, 2)}×)` : '') +
            (m.rounds ? dim(` (rounds: ${m.rounds.map((r) => `${fmt(r, 2)}×`).join(' ')})`) : '') +
            (m.valid ? '' : red(` — ${m.problems.join(', ')}`)),
        );
      }
    }

    // (d): each cheap row at a fixed rate while every login row runs flat out.
    // The login rows share the connections of one login row between them: the
    // bcrypt pool stays saturated without a queue so deep that a row's logins
    // cannot come back within the run.
    const logins = rows.filter((r) => r.bound === 'bcrypt');
    const bgConnections = Math.max(1, Math.ceil(loginConnections() / Math.max(1, logins.length)));
    for (const row of rows.filter((r) => r.bound === 'route')) {
      if (logins.length === 0) break;
      const [probe, ...bg] = await Promise.all([
        load({ baseUrl: server.baseUrl, row, seconds: duration, connections: 10, overallRate: probeRate, warm: false }),
        ...logins.map((l) => load({ baseUrl: server.baseUrl, row: l, seconds: duration + 1, connections: bgConnections, warm: false })),
      ]);
      const bgProblems = bg.flatMap((b, i) => b.problems.map((p) => `${logins[i].name}: ${p}`));
      const valid = probe.valid && bgProblems.length === 0;
      const pass = valid && probe.p99 < P99_UNDER_LOGINS_TARGET_MS;
      const name = `${row.name} p99 at ${probeRate} req/s under logins`;
      results.push({
        store: label,
        name,
        kind: 'p99',
        ...probe,
        valid,
        problems: [...probe.problems, ...bgProblems],
        target: `p99 < ${P99_UNDER_LOGINS_TARGET_MS} ms`,
        pass,
        logins: bg.map((b) => b.rps),
      });
      console.log(
        `  ${valid ? '' : red('INVALID ')}${name}: p50 ${probe.p50} ms, p99 ${probe.p99} ms ` +
          dim(`(logins meanwhile: ${bg.map((b) => fmt(b.rps, 1)).join(', ')} req/s)`) +
          (valid ? '' : red(` — ${[...probe.problems, ...bgProblems].join(', ')}`)),
      );
    }
  } finally {
    const stopped = await server.stop();
    if (stopped.code !== 0) console.log(red(`  the server did not stop cleanly (${stopped.code ?? stopped.signal})`));
    const errors = server.output.filter((l) => /"level":(50|60)/.test(l));
    if (errors.length > 0) {
      console.log(red(`  the server logged ${errors.length} error(s), first:`));
      for (const l of errors.slice(0, 3)) console.log(dim(`    ${l.slice(0, 600)}`));
    }
    await db.drop();
    console.log(dim(`  ${kind} done in ${fmt((performance.now() - started) / 1000)} s`));
  }
}

// ---------------------------------------------------------------- scale-out

const CLOCK_TICKS = 100; // USER_HZ: the unit of /proc/<pid>/stat's times on Linux

/** CPU seconds (user + system, all threads) of a process from /proc, 0 when gone. */
function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return 0;
  }
}

/** CPU seconds so far of every process named postgres. */
function postgresCpuSeconds() {
  let postgres = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') postgres += cpuSecondsOf(entry);
    } catch {
      // gone meanwhile
    }
  }
  return postgres;
}

/** CPU seconds so far of `pids`, of every process named postgres, and of this process, with the wall clock. */
function cpuNow(pids) {
  const postgres = postgresCpuSeconds();
  const self = process.cpuUsage();
  // the whole machine: every CPU's busy time (all but idle and iowait), /proc/stat's first line
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const machine = (ticks.reduce((n, t) => n + t, 0) - ticks[3] - ticks[4]) / CLOCK_TICKS;
  return { pids: pids.map(cpuSecondsOf), postgres, self: (self.user + self.system) / 1e6, machine, at: performance.now() / 1000 };
}

/**
 * Every cheap row through pgbouncer (transaction mode) on one fresh Postgres
 * database: first against one instance, then against two (the same
 * connections split evenly between them), side by side; the ratio is
 * two-instance req/s over one-instance req/s.
 */
async function benchScaleOut(modules, results) {
  const started = performance.now();
  const postgresUrl = process.env.DATABASE_URL.trim();
  const db = await freshDatabase({ kind: 'postgres', postgresUrl, label: 'bench_scale' });
  const bouncer = await startPgbouncer({ postgresUrl, poolSize: 20 });
  const env = serverEnv({
    ...db.env,
    DATABASE_URL: bouncer.urlFor(db.name),
    DATABASE_DIRECT_URL: db.env.DATABASE_URL,
    JWT_SECRET: randomBytes(48).toString('base64url'), // shared: a token from A works on B
    BCRYPT_COST: String(cost),
    BCRYPT_POOL_SIZE: String(poolSize),
    THROTTLE_ACCOUNT_MAX_FAILURES: '1000000',
    THROTTLE_IP_MAX_FAILURES: '1000000',
    THROTTLE_REGISTRATIONS_PER_HOUR: '1000000',
  });
  const label = 'pgbouncer';
  console.log(`\n== ${label}: 1 → 2 instances through pgbouncer (transaction mode, port ${bouncer.port}) on ${db.name}`);
  const admin = adminRunner({ ...env, DATABASE_URL: db.env.DATABASE_URL });
  const fixtures = {};
  for (const m of modules) if (typeof m.prepare === 'function') fixtures[m.api] = await m.prepare({ admin });
  const a = await startProcess({ env, name: 'instance A', timeoutMs: 180_000 });
  const b = await startProcess({ env, name: 'instance B', timeoutMs: 180_000 });
  try {
    const rows = [];
    for (const m of modules) {
      const made = await m.setup({ baseUrl: a.baseUrl, fixtures: fixtures[m.api], request: (...x) => request(a.baseUrl, ...x) });
      rows.push(...made.filter((r) => r.bound === 'route'));
    }
    const cpu = { a: 0, b: 0, pgbouncer: 0, postgres: 0, load: 0, machine: 0, seconds: 0 };
    for (const row of rows) {
      const one = await load({ baseUrl: a.baseUrl, row, seconds: duration, connections: ROUTE_CONNECTIONS });
      const half = Math.max(1, ROUTE_CONNECTIONS / 2);
      const before = cpuNow([a.pid, b.pid, bouncer.pid]);
      const [ra, rb] = await Promise.all([
        load({ baseUrl: a.baseUrl, row, seconds: duration, connections: half }),
        load({ baseUrl: b.baseUrl, row, seconds: duration, connections: half }),
      ]);
      const after = cpuNow([a.pid, b.pid, bouncer.pid]);
      cpu.a += after.pids[0] - before.pids[0];
      cpu.b += after.pids[1] - before.pids[1];
      cpu.pgbouncer += after.pids[2] - before.pids[2];
      cpu.postgres += after.postgres - before.postgres;
      cpu.load += after.self - before.self;
      cpu.machine += after.machine - before.machine;
      cpu.seconds += after.at - before.at;
      const two = { ...combine([ra, rb]), rps: ra.rps + rb.rps, valid: one.valid && ra.valid && rb.valid, problems: [...ra.problems, ...rb.problems] };
      const ratio = one.valid && two.valid && one.rps ? two.rps / one.rps : undefined;
      results.push({ store: label, name: `${row.name}, 1 instance`, kind: 'route', ...one });
      results.push({ store: label, name: `${row.name}, 2 instances`, kind: 'route', ...two, bound: one.rps, ratio });
      console.log(
        `  ${row.name}: 1 instance ${fmt(one.rps, 1)} req/s (p99 ${one.p99} ms), 2 instances ${fmt(two.rps, 1)} req/s ` +
          `(${fmt(ra.rps, 1)} + ${fmt(rb.rps, 1)}, p99 ${two.p99} ms): ${ratio === undefined ? 'INVALID' : `${fmt(ratio, 2)}×`}`,
      );
    }
    // What bounds it, measured: the cores each process kept busy while two instances ran
    const cores = availableParallelism();
    const busy = (cpuSeconds) => (cpu.seconds > 0 ? cpuSeconds / cpu.seconds : 0);
    const parts = [
      ['instance A', busy(cpu.a)],
      ['instance B', busy(cpu.b)],
      ['pgbouncer', busy(cpu.pgbouncer)],
      ['Postgres (every backend)', busy(cpu.postgres)],
      ['the load generator', busy(cpu.load)],
    ];
    const ours = parts.reduce((n, [, c]) => n + c, 0);
    const machine = busy(cpu.machine);
    parts.push(['other work on the machine', Math.max(0, machine - ours)]);
    const [busiest, busiestCores] = [...parts].sort((x, y) => y[1] - x[1])[0];
    console.log(
      `  What bounds it, measured over the two-instance runs (cores kept busy): ${parts.map(([n, c]) => `${n} ${fmt(c, 2)}`).join(', ')}; ` +
        `${fmt(machine, 2)} of ${cores} cores in all. ` +
        (machine >= cores * 0.9
          ? 'The machine bounds it: every core was busy, shared by the instances, pgbouncer, Postgres, the load generator and any other work, so a second instance can only take CPU from the others.'
          : busiestCores >= 0.9
            ? `${busiest} bounds it: it kept a whole core busy while the machine had cores to spare.`
            : 'Neither the cores nor one process was saturated: the rows are bound by waiting (round trips to Postgres through pgbouncer).'),
    );
  } finally {
    for (const s of [a, b]) {
      const stopped = await s.stop();
      if (stopped.code !== 0) console.log(red(`  an instance did not stop cleanly (${stopped.code ?? stopped.signal})`));
    }
    await bouncer.stop();
    await db.drop();
    console.log(dim(`  ${label} done in ${fmt((performance.now() - started) / 1000)} s`));
  }
}

// ---------------------------------------------------------------- report

function printTable(results) {
  const head = ['store', 'row', 'req/s', 'p50 ms', 'p99 ms', 'bound/s', 'ratio', 'CPU µs/req', 'cost ratio', 'target', 'result'];
  const lines = results.map((r) => [
    r.store,
    r.name,
    r.kind === 'p99' ? '-' : r.valid ? fmt(r.rps, 1) : 'INVALID',
    String(r.p50 ?? '-'),
    String(r.p99 ?? '-'),
    r.bound ? fmt(r.bound, 1) : '-',
    r.ratio !== undefined ? `${fmt(r.ratio, 2)}×` : '-',
    r.cpuUs !== undefined ? fmt(r.cpuUs, 1) : '-',
    r.cpuUs !== undefined && r.boundCpuUs !== undefined ? `${fmt(r.boundCpuUs / r.cpuUs, 2)}×` : '-',
    r.target ?? '-',
    r.target ? (r.pass ? 'PASS' : r.valid === false ? 'MISS (invalid)' : 'MISS') : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i >= 2 && i <= 8 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(`\n${row(head)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) {
    const text = row(l);
    console.log(l[10].startsWith('PASS') ? text.replace(/PASS$/, green('PASS')) : l[10].startsWith('MISS') ? text.replace(/MISS.*$/, (s) => red(s)) : text);
  }
}

async function main() {
  let modules = await loadApiModules(path.join(repoRoot, 'scripts/bench'));
  if (opts.only) modules = modules.filter((m) => opts.only.includes(m.api));
  if (modules.length === 0) throw new Error('no bench modules');
  const stores = opts.store ?? (process.env.DATABASE_URL?.trim() ? ['pglite', 'postgres', ...(findPgbouncer() ? ['pgbouncer'] : [])] : ['pglite']);
  for (const s of stores) {
    if (!['pglite', 'postgres', 'pgbouncer'].includes(s)) throw new Error(`--store must be pglite, postgres or pgbouncer (got ${s})`);
    if (s !== 'pglite' && !process.env.DATABASE_URL?.trim()) throw new Error(`--store ${s} needs DATABASE_URL`);
    if (s === 'pgbouncer' && !findPgbouncer()) throw new Error('--store pgbouncer needs pgbouncer (apt-get install pgbouncer)');
  }
  if (process.env.DATABASE_URL?.trim() && !stores.includes('pgbouncer') && !opts.store) {
    console.log('(pgbouncer not installed: no 1 → 2 instances rows; apt-get install pgbouncer)');
  }

  console.log(
    `polyauth bench: Node ${process.version}, ${cpus().length} CPUs (${availableParallelism()} available), ` +
      `BCRYPT_COST=${cost}, BCRYPT_POOL_SIZE=${poolSize}, ${duration} s per run after ${warmup} s warm-up, ` +
      `stores: ${stores.join(', ')}; APIs: ${modules.map((m) => m.api).join(', ')}`,
  );
  console.log(dim('server: NODE_ENV=production LOG_LEVEL=warn, throttle on with THROTTLE_*_MAX_FAILURES=1000000'));

  const results = [];
  for (const s of stores) await (s === 'pgbouncer' ? benchScaleOut(modules, results) : benchStore(s, modules, results));

  printTable(results);
  const missed = results.filter((r) => r.target && !r.pass);
  console.log(`\n${missed.length === 0 ? green('every target met') : red(`${missed.length} target(s) missed`)}`);
  return missed.length === 0;
}

let exitCode = 1;
try {
  const allMet = await main();
  exitCode = opts.check && !allMet ? 1 : 0;
} catch (err) {
  console.error(red(`bench: ${err.stack ?? err}`));
  exitCode = 1;
} finally {
  await runCleanups();
}
process.exit(exitCode);
