#!/usr/bin/env node
// npm run smoke [-- --only <api>]
//
// Plays every API's documented operations with the real curl binary against
// the real server (`node apps/server/src/main.mjs`) on a fresh database: a temp
// DATA_DIR (embedded PGlite), or with DATABASE_URL a fresh uniquely named
// Postgres database that is dropped at the end. Fixtures are made with the
// admin CLI before the server starts (the embedded store is locked while the
// server runs). One line per step, a summary, exit 1 on any failure.
//
// Each API is a module scripts/smoke/<api>.mjs:
//   export const api = '<api id>';
//   export async function setup({ admin, log }) → fixtures     (optional, before the server starts;
//                                                                admin(...args) runs an admin CLI command with
//                                                                --json and resolves its JSON document)
//   export async function run({ baseUrl, curl, expect, step, fixtures, outbox, log })
// curl(...args) runs `curl -sS -i ...args` and resolves {status, headers, body, json};
// step(title) names the next step (otherwise each curl call is a step named by
// its method and path); expect(cond, message) fails the current step and lets
// the run go on. outbox reads the mail the server sends: SMTP_URL is unset and
// MAIL_OUTBOX_DIR is a temp dir (outbox.dir) on PGlite and Postgres alike;
// `await outbox.next({ to })` waits for the next unread mail to `to` and
// resolves {to, subject, text, links} (scripts/lib/outbox.mjs).
//
// The limits the modules count on are pinned to their defaults, whatever the
// calling shell exports (see PINNED below).
import './check-node.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCurl } from './lib/curl.mjs';
import { Outbox } from './lib/outbox.mjs';
import { adminSession, freshDatabase, loadApiModules, onCleanup, repoRoot, runCleanups, serverEnv, startProcess } from './lib/server-process.mjs';

/**
 * Server settings the smoke modules' expectations depend on ('' removes a
 * variable). Every request comes from 127.0.0.1, so the per-address budgets
 * are shared by all modules: about 30 of the 50 failed sign-ins and 15 of the
 * 20 registrations an hour are used; mind them when adding steps.
 */
const PINNED = {
  SMTP_URL: '',
  PUBLIC_URL: '',
  REGISTRATION_ENABLED: 'true',
  THROTTLE_ENABLED: 'true',
  THROTTLE_ACCOUNT_MAX_FAILURES: '5',
  THROTTLE_IP_MAX_FAILURES: '50',
  THROTTLE_REGISTRATIONS_PER_HOUR: '20',
  MAIL_MAX_PER_HOUR: '5',
  MAIL_MAX_PER_HOUR_PER_IP: '30',
  MINT_TOKEN_TTL: '',
  USER_TOKEN_TTL: '',
  EMAIL_VERIFIED_REDIRECT: '',
  RESET_PASSWORD_PAGE: '',
  TRUST_PROXY: '',
};

const { values: opts } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
});

const color = process.stdout.isTTY ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_c, s) => s;
const green = (s) => color(32, s);
const red = (s) => color(31, s);
const dim = (s) => color(2, s);

/** Method and path of a curl argument list, for a step's default name. */
function describeCurl(args) {
  const strs = args.map(String);
  const x = strs.findIndex((a) => a === '-X' || a === '--request');
  const hasData = strs.some((a) => /^(-d|--data.*|-F|--form)$/.test(a));
  const method = x >= 0 ? strs[x + 1] : hasData ? 'POST' : 'GET';
  const url = strs.find((a) => /^https?:\/\//.test(a));
  return `${method} ${url ? url.replace(/^https?:\/\/[^/]+/, '') || '/' : '?'}`;
}

class Steps {
  passed = 0;
  failed = 0;
  #current;
  #api;

  constructor(api) {
    this.#api = api;
  }

  start(title) {
    this.finish();
    this.#current = { title, failures: [], status: undefined, curls: 0, commands: [] };
  }

  /** Called by curl(): opens an auto-named step unless step() just opened one. */
  beforeCurl(args) {
    if (!this.#current || this.#current.curls > 0) this.start(describeCurl(args));
    this.#current.curls += 1;
  }

  afterCurl(res) {
    this.#current.status = res.status;
    this.#current.commands.push(res.command);
    this.#current.last = res;
  }

  fail(message) {
    if (!this.#current) this.start('(module)');
    this.#current.failures.push(message);
  }

  finish() {
    const s = this.#current;
    if (!s) return;
    this.#current = undefined;
    const status = s.status === undefined ? '---' : String(s.status);
    if (s.failures.length === 0) {
      this.passed += 1;
      console.log(`  ${green('✓')} ${status}  ${s.title}`);
      if (opts.verbose) for (const c of s.commands) console.log(dim(`        ${c}`));
      return;
    }
    this.failed += 1;
    console.log(`  ${red('✗')} ${status}  ${s.title}`);
    for (const f of s.failures) console.log(red(`        ${f}`));
    for (const c of s.commands) console.log(dim(`        ${c}`));
    if (s.last) console.log(dim(`        → ${s.last.body.slice(0, 400).replace(/\n/g, ' ')}`));
  }

  get api() {
    return this.#api;
  }
}

async function main() {
  const started = Date.now();
  let modules = await loadApiModules(path.join(repoRoot, 'scripts/smoke'));
  if (opts.only) modules = modules.filter((m) => opts.only.includes(m.api));
  if (modules.length === 0) throw new Error('no smoke modules to play');

  const postgresUrl = process.env.DATABASE_URL?.trim() || undefined;
  const db = await freshDatabase({ kind: postgresUrl ? 'postgres' : 'pglite', postgresUrl, label: 'smoke' });
  const outboxDir = mkdtempSync(path.join(tmpdir(), 'polyauth-smoke-outbox-'));
  onCleanup(() => rmSync(outboxDir, { recursive: true, force: true }));
  const env = serverEnv({ ...PINNED, ...db.env, MAIL_OUTBOX_DIR: outboxDir, BCRYPT_COST: process.env.BCRYPT_COST || '10' });
  console.log(`polyauth smoke: ${db.kind === 'postgres' ? `Postgres database ${db.name}` : `embedded PGlite in ${db.env.DATA_DIR}`}, mail outbox ${outboxDir}`);
  const outbox = new Outbox(outboxDir);

  // Fixtures: every module's setup() through one admin CLI process, closed
  // before the server starts.
  const session = adminSession(env);
  const fixtures = {};
  try {
    for (const m of modules) {
      if (typeof m.setup !== 'function') continue;
      const log = (...a) => console.log(dim(`  [${m.api}] ${a.join(' ')}`));
      fixtures[m.api] = await m.setup({ admin: session.admin, log });
    }
  } finally {
    await session.close();
  }
  console.log(`fixtures made with the admin CLI in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const server = await startProcess({ env });
  console.log(`server ready at ${server.baseUrl} (pid ${server.pid})\n`);

  const results = [];
  for (const m of modules) {
    console.log(`${m.api}`);
    const steps = new Steps(m.api);
    const ctx = {
      baseUrl: server.baseUrl,
      fixtures: fixtures[m.api],
      outbox,
      log: (...a) => console.log(dim(`    ${a.join(' ')}`)),
      step: (title) => steps.start(title),
      expect: (cond, message) => {
        if (!cond) steps.fail(message);
        return Boolean(cond);
      },
      curl: async (...args) => {
        steps.beforeCurl(args);
        const res = await runCurl(args);
        steps.afterCurl(res);
        return res;
      },
    };
    try {
      await m.run(ctx);
    } catch (err) {
      steps.fail(`aborted: ${err.stack ?? err}`);
    }
    steps.finish();
    results.push(steps);
    console.log('');
  }

  const stopped = await server.stop();
  if (stopped.code !== 0) {
    console.log(red(`the server did not stop cleanly on SIGTERM (${stopped.code ?? stopped.signal})`));
    results.push({ api: 'server shutdown', passed: 0, failed: 1 });
  }
  const crashes = server.output.filter((l) => /"level":(50|60)/.test(l));
  if (crashes.length > 0) {
    console.log(red(`the server logged ${crashes.length} error(s):`));
    for (const l of crashes.slice(0, 10)) console.log(dim(`  ${l.slice(0, 600)}`));
    results.push({ api: 'server log', passed: 0, failed: 1 });
  }

  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log('summary');
  for (const r of results) console.log(`  ${r.failed ? red('✗') : green('✓')} ${r.api}: ${r.passed} passed, ${r.failed} failed`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n${failed ? red(`${failed} failed`) : green('all passed')}, ${passed} passed in ${seconds} s`);
  return failed === 0;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  console.error(red(`smoke: ${err.stack ?? err}`));
} finally {
  await runCleanups();
}
process.exit(ok ? 0 : 1);
