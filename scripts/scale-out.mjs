#!/usr/bin/env node
// npm run test:scale-out
//
// Two real server instances (A and B) through pgbouncer in transaction mode
// on one fresh Postgres database, twice: once with DATABASE_DIRECT_URL (the
// change feed LISTENs on a direct connection: caches on) and once without
// (the LISTEN goes through the pooler, the round trip fails, caches off).
// Either way: revocation on one refused on the other within 1 s (logout,
// password change, admin revoke), a lockout from failures split across both,
// one-time tokens (reset link, verification link, auth-v3 authByToken)
// redeemed on both at the same moment succeed exactly once, a user created on
// one signs in on the other at once.
//
// Needs pgbouncer (Debian: apt-get install pgbouncer) and Postgres at
// POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test, trust
// auth). Without pgbouncer it says so and exits 0, except under CI=true,
// where it fails.
import './check-node.mjs';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Outbox } from './lib/outbox.mjs';
import { findPgbouncer, startPgbouncer } from './lib/pgbouncer.mjs';
import { adminSession, freshDatabase, runCleanups, serverEnv, startProcess } from './lib/server-process.mjs';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PASSWORD = 'correct horse battery';
const REVOCATION_BOUND_MS = 1000;

if (!findPgbouncer()) {
  const msg = 'scale-out suite NOT RUN: pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run installs it)';
  console.error(`\n[polyauth] ${msg}\n`);
  process.exit(process.env.CI ? 1 : 0);
}

let failures = 0;
let passed = 0;
function check(cond, what) {
  if (cond) {
    passed += 1;
    console.log(`  ok    ${what}`);
  } else {
    failures += 1;
    console.log(`  FAIL  ${what}`);
  }
}

const suffix = randomBytes(3).toString('hex');
let seq = 0;
const unique = (p) => `${p}-${suffix}-${(seq += 1)}`;
const form = (o) => new URLSearchParams(o).toString();
const FORM = 'application/x-www-form-urlencoded';

async function call(base, method, p, { body, type, headers = {} } = {}) {
  const res = await fetch(base + p, {
    method,
    redirect: 'manual',
    headers: { ...(type ? { 'content-type': type } : {}), ...headers },
    body: body === undefined ? undefined : type === FORM ? form(body) : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Polls `probe` until it returns true; resolves the ms it took, or undefined after `bound` × 3. */
async function within(bound, probe) {
  const t0 = performance.now();
  while (performance.now() - t0 < bound * 3) {
    if (await probe()) return Math.round(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

async function run(mode, bouncer) {
  console.log(`\n=== two instances through pgbouncer (transaction mode), ${mode === 'direct' ? 'with' : 'without'} DATABASE_DIRECT_URL`);
  const db = await freshDatabase({ kind: 'postgres', postgresUrl: POSTGRES_URL, label: `scale_${mode}` });
  const outboxDir = mkdtempSync(path.join(tmpdir(), 'polyauth-scale-outbox-'));
  const pooled = bouncer.urlFor(db.name);
  const direct = db.env.DATABASE_URL;
  const env = serverEnv({
    DATABASE_URL: pooled,
    DATABASE_DIRECT_URL: mode === 'direct' ? direct : '',
    DATA_DIR: db.env.DATA_DIR,
    JWT_SECRET: randomBytes(48).toString('base64url'), // shared by both instances
    MAIL_OUTBOX_DIR: outboxDir,
    SMTP_URL: '',
    LOG_LEVEL: 'info',
    BCRYPT_COST: '10',
    THROTTLE_ACCOUNT_MAX_FAILURES: '3',
    THROTTLE_LOCKOUT_SECONDS: '120',
  });
  const adminEnv = { ...env, DATABASE_URL: direct, DATABASE_DIRECT_URL: '' };
  delete adminEnv.DATABASE_DIRECT_URL;
  // one long-lived admin CLI process (a node start per command is slow)
  const session = adminSession(adminEnv);
  const admin = session.admin;
  const outbox = new Outbox(outboxDir);

  const a = await startProcess({ env, name: 'instance A', timeoutMs: 180_000 }); // migrates first
  const b = await startProcess({ env, name: 'instance B', timeoutMs: 180_000 });
  try {
    // the change feed's verdict, logged by each (one line per state change):
    // with a direct connection it ends live; through the pooler it never is
    const feedEvents = (srv) => srv.output.filter((l) => /"event":"feed (lost|back)"/.test(l)).map((l) => JSON.parse(l).event);
    const settled = async (srv) => {
      for (let i = 0; i < 200; i++) {
        const events = feedEvents(srv);
        if (mode === 'direct' ? events.at(-1) === 'feed back' : events.length > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return feedEvents(srv);
    };
    const [evA, evB] = [await settled(a), await settled(b)];
    if (mode === 'direct') check(evA.at(-1) === 'feed back' && evB.at(-1) === 'feed back', `A and B log "feed back": caches on (A: ${evA.join(', ')}; B: ${evB.join(', ')})`);
    else {
      check([...evA, ...evB].every((e) => e === 'feed lost') && evA.length === 1 && evB.length === 1, `A and B log "feed lost" once: caches off (A: ${evA.join(', ')}; B: ${evB.join(', ')})`);
      const reason = JSON.parse(a.output.find((l) => /"event":"feed lost"/.test(l)) ?? '{}').reason ?? '';
      check(/set DATABASE_DIRECT_URL/.test(reason), `the "feed lost" line says what to set (${reason})`);
    }

    const client = await admin('client', 'create', '--name', `scale-out ${suffix}`);
    const basic = `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;
    const oauthToken = (srv, username, password = PASSWORD) =>
      call(srv.baseUrl, 'POST', '/oauth/token', { type: FORM, headers: { authorization: basic }, body: { grant_type: 'password', username, password } });
    const me = (srv, t) => call(srv.baseUrl, 'GET', '/user', { headers: { authorization: `Bearer ${t}` } });
    const register = (srv, email) => call(srv.baseUrl, 'POST', '/user', { type: FORM, body: { firstName: 'Ada', lastName: 'Lovelace', email, password: PASSWORD } });
    const V3 = '/api/v3/auth';
    const v3login = (srv, userName, password = PASSWORD) => call(srv.baseUrl, 'POST', `${V3}/login`, { type: 'application/json', body: { userName, password } });
    const whoAmI = (srv, token) => call(srv.baseUrl, 'POST', `${V3}/whoAmI`, { type: 'application/json', body: { token } });

    // ---- a user created on A signs in on B at once
    {
      const email = `${unique('twin')}@example.com`;
      const r = await register(a, email);
      const t = await oauthToken(b, email);
      check(r.status === 201 && t.status === 200, `created on A (${r.status}), signed in on B at once (${t.status})`);
    }

    // ---- revocation on one, refused on the other within 1 s
    {
      // logout (auth-v3) on A; B had it cached (when caches are on)
      const user = unique('logout');
      await admin('user', 'create', '--username', user, '--email', `${user}@example.com`, '--password', PASSWORD, '--first-name', 'Lo', '--last-name', 'Gout');
      const login = await v3login(a, user);
      const token = login.json?.token;
      const warm = [await whoAmI(b, token), await whoAmI(b, token)];
      const out = await call(a.baseUrl, 'POST', `${V3}/logout`, { type: 'application/json', body: { token } });
      const onA = await whoAmI(a, token);
      const ms = await within(REVOCATION_BOUND_MS, async () => (await whoAmI(b, token)).status === 401);
      check(warm.every((w) => w.status === 200) && out.status === 204 && onA.status === 401, 'logout on A: 204, refused on A at once');
      check(ms !== undefined && ms <= REVOCATION_BOUND_MS, `logout on A refused on B within ${REVOCATION_BOUND_MS} ms (took ${ms ?? 'too long'} ms)`);
    }
    {
      // password change (mts-auth PUT /user/{id}) on A revokes the token held on B
      const email = `${unique('pw')}@example.com`;
      const id = (await register(a, email)).json; // mts-auth answers the bare new id
      const tA = (await oauthToken(a, email)).json?.access_token;
      const tB = (await oauthToken(b, email)).json?.access_token;
      const warm = [await me(b, tB), await me(b, tB)];
      const put = await call(a.baseUrl, 'PUT', `/user/${id}`, { type: FORM, headers: { authorization: `Bearer ${tA}` }, body: { password: 'another good password' } });
      const ms = await within(REVOCATION_BOUND_MS, async () => (await me(b, tB)).status === 401);
      check(warm.every((w) => w.status === 200) && put.status === 200, 'password changed on A (200)');
      check(ms !== undefined && ms <= REVOCATION_BOUND_MS, `password change on A refused on B within ${REVOCATION_BOUND_MS} ms (took ${ms ?? 'too long'} ms)`);
    }
    {
      // admin revoke (the CLI, straight to the database) while B serves the token
      const user = unique('revoked');
      await admin('user', 'create', '--username', user, '--email', `${user}@example.com`, '--password', PASSWORD, '--first-name', 'Re', '--last-name', 'Voked');
      const token = (await v3login(b, user)).json?.token;
      const warm = [await whoAmI(b, token), await whoAmI(a, token)];
      await admin('token', 'revoke', '--user', user);
      const msB = await within(REVOCATION_BOUND_MS, async () => (await whoAmI(b, token)).status === 401);
      const msA = await within(REVOCATION_BOUND_MS, async () => (await whoAmI(a, token)).status === 401);
      check(warm.every((w) => w.status === 200), 'the token works on both before the revoke');
      check(msB !== undefined && msB <= REVOCATION_BOUND_MS && msA !== undefined && msA <= REVOCATION_BOUND_MS, `admin revoke refused on B (${msB ?? 'too long'} ms) and A (${msA ?? 'too long'} ms) within ${REVOCATION_BOUND_MS} ms`);
    }

    // ---- lockout from a burst of failures split across A and B
    {
      const email = `${unique('lock')}@example.com`;
      await register(a, email);
      const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => oauthToken(i % 2 ? b : a, email, 'wrong password!')));
      const compared = burst.filter((r) => r.status === 400).length;
      const locked = burst.filter((r) => r.status === 429).length;
      const after = [await oauthToken(a, email), await oauthToken(b, email)];
      check(compared + locked === 12, `12 wrong passwords split across A and B: ${compared} compared (400), ${locked} refused as locked (429)`);
      check(after.every((r) => r.status === 429), `the right password afterwards is locked out on A and B (${after.map((r) => r.status).join(', ')})`);
    }

    // ---- one-time tokens redeemed on A and B at the same moment: exactly once
    {
      const email = `${unique('once')}@example.com`;
      await register(a, email);
      // reset link
      await call(a.baseUrl, 'POST', '/api/oauth/reset_password', { type: 'application/json', body: { email } });
      const mail = await outbox.next({ to: email, timeoutMs: 10_000 });
      let token;
      for (const l of mail?.links ?? []) token ??= new URL(l).searchParams.get('token') ?? undefined;
      const both = await Promise.all([a, b].map((srv) => call(srv.baseUrl, 'POST', '/api/oauth/reset_password/confirm', { type: 'application/json', body: { token, password: 'a third good password' } })));
      const codes = both.map((r) => r.status).sort();
      check(token && codes[0] === 200 && codes[1] === 400, `reset link confirmed on A and B at once: exactly one 200 (${codes.join(', ')})`);

      // verification link
      // a client with a secret authenticates for the password grant (RFC 6749 §2.3.1)
      const at = (await call(a.baseUrl, 'POST', '/api/oauth/token', { type: FORM, headers: { authorization: basic }, body: { grant_type: 'password', username: email, password: 'a third good password' } })).json?.access_token;
      await call(b.baseUrl, 'POST', '/api/oauth/send_email_link', { headers: { authorization: `Bearer ${at}` } });
      const vmail = await outbox.next({ to: email, timeoutMs: 10_000 });
      const link = vmail?.links.find((l) => l.includes('/valid_email/'));
      const vpath = link ? new URL(link).pathname : '/api/oauth/valid_email/missing';
      const vboth = await Promise.all([a, b].map((srv) => call(srv.baseUrl, 'GET', vpath)));
      const vcodes = vboth.map((r) => r.status).sort();
      check(link && vcodes[0] === 301 && vcodes[1] === 404, `verification link opened on A and B at once: exactly one 301 (${vcodes.join(', ')})`);

      // auth-v3 authByToken (a loginOther token)
      const adm = unique('adm');
      const lin = unique('lin');
      const domain = await admin('domain', 'create', '--name', unique('acme'));
      for (const [u, role] of [
        [adm, 'ADMIN'],
        [lin, 'LINGUIST'],
      ]) {
        const created = await admin('user', 'create', '--username', u, '--email', `${u}@example.com`, '--password', PASSWORD, '--first-name', 'X', '--last-name', 'Y', '--role', role);
        await admin('domain', 'add-member', domain.id, created.id);
      }
      const adminToken = (await v3login(a, adm)).json?.token;
      const other = await call(a.baseUrl, 'POST', `${V3}/loginOther`, { type: FORM, body: { token: adminToken, userName: lin } });
      const q = `/web/login/authByToken?${form({ token: other.json?.token ?? 'missing', url: '/web/' })}`;
      const wboth = await Promise.all([a, b].map((srv) => call(srv.baseUrl, 'GET', q)));
      const wcodes = wboth.map((r) => r.status).sort();
      check(other.status === 200 && wcodes[0] === 303 && wcodes[1] === 401, `authByToken on A and B at once: exactly one 303 (${wcodes.join(', ')})`);
    }

    // ---- no session state on pooled server connections
    if (mode === 'direct') {
      // DATABASE_URL is a pooler here: polyauth SETs nothing on its pooled
      // connections, and says which role settings carry the timeouts instead
      const advice = [a, b].map((srv) => srv.output.find((l) => /"database":"pooled"/.test(l)) ?? '');
      check(advice.every((l) => /ALTER ROLE .* IN DATABASE .* SET statement_timeout = \d+;.*SET lock_timeout = \d+;/.test(l)), `A and B say how to give the role its timeouts (${advice[0].slice(0, 160)}…)`);
      // any client of the same pool: several server connections at once, none carrying polyauth's settings
      const seen = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const c = new pg.Client({ connectionString: pooled });
          await c.connect();
          try {
            await c.query('begin');
            const st = (await c.query('show statement_timeout')).rows[0].statement_timeout;
            const lt = (await c.query('show lock_timeout')).rows[0].lock_timeout;
            await new Promise((r) => setTimeout(r, 100));
            await c.query('commit');
            return `${st}/${lt}`;
          } finally {
            await c.end();
          }
        }),
      );
      check(seen.every((v) => v === '0/0'), `another client of the pool sees no statement or lock timeout left by polyauth (${[...new Set(seen)].join(', ')})`);
    }

    // ---- the pooler cannot reach the database: 503 in the dialect, never 500; back at once after
    {
      await bouncer.console(`DISABLE ${db.name}`);
      await bouncer.console(`KILL ${db.name}`);
      const during = await Promise.all([a, b, a, b].map((srv) => register(srv, `${unique('outage')}@example.com`)));
      await bouncer.console(`ENABLE ${db.name}`);
      await bouncer.console(`RESUME ${db.name}`);
      check(
        during.every((r) => r.status === 503 && r.json?.error === 'service_unavailable' && r.headers.get('retry-after')),
        `registrations while pgbouncer refuses the database: 503 service_unavailable with Retry-After (${during.map((r) => r.status).join(', ')})`,
      );
      const back = await within(5000, async () => (await register(a, `${unique('back')}@example.com`)).status === 201);
      check(back !== undefined, `a registration succeeds once pgbouncer lets the database through again (${back ?? 'not'} within 5000 ms)`);
    }
    // ---- the database refuses pgbouncer's logins ("server login has been failing", SQLSTATE 08P01): 503, then back
    {
      const su = new pg.Client({ connectionString: POSTGRES_URL });
      await su.connect();
      try {
        await su.query(`alter database ${db.name} allow_connections false`);
        await su.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [db.name]);
        const during = [];
        for (const srv of [a, b, a, b]) during.push(await register(srv, `${unique('refused')}@example.com`));
        // long enough for the change feed's reconnect backoff to reach its 5 s cap
        await new Promise((r) => setTimeout(r, 7_000));
        const linesBefore = a.output.length;
        await su.query(`alter database ${db.name} allow_connections true`);
        if (mode === 'direct') {
          const feedBack = await within(3000, async () => {
            if (a.output.slice(linesBefore).some((l) => /"event":"feed back"/.test(l))) return true;
            await call(a.baseUrl, 'GET', '/healthz'); // keep the pool's traffic going: the database is seen back
            await register(a, `${unique('poke')}@example.com`);
            return false;
          });
          check(feedBack !== undefined && feedBack <= 3000, `A's change feed is back with the database, not at the end of its backoff (${feedBack ?? 'not'} ms after logins were allowed; bound 3000 ms)`);
        }
        check(
          during.every((r) => r.status === 503 && r.json?.error === 'service_unavailable'),
          `registrations while the database refuses pgbouncer's logins: 503 service_unavailable, never 500 (${during.map((r) => r.status).join(', ')})`,
        );
      } finally {
        await su.query(`alter database ${db.name} allow_connections true`).catch(() => undefined);
        await su.end();
      }
      const back = await within(5000, async () => (await register(b, `${unique('back')}@example.com`)).status === 201);
      check(back !== undefined, `a registration succeeds once the database takes logins again (${back ?? 'not'} within 5000 ms)`);
    }

    // no raw errors in either log
    const errors = [...a.output, ...b.output].filter((l) => /"level":(50|60)/.test(l));
    check(errors.length === 0, `no error lines in the servers' logs${errors.length ? `:\n${errors.slice(0, 5).join('\n')}` : ''}`);
  } finally {
    await session.close();
    const [ea, eb] = [await a.stop(), await b.stop()];
    check(ea.code === 0 && eb.code === 0, `both stop with exit 0 on SIGTERM (${ea.code ?? ea.signal}, ${eb.code ?? eb.signal})`);
    await db.drop();
    rmSync(outboxDir, { recursive: true, force: true });
  }
}

const t0 = Date.now();
let bouncer;
try {
  bouncer = await startPgbouncer({ postgresUrl: POSTGRES_URL });
  await run('direct', bouncer);
  await run('pooled', bouncer);
} catch (err) {
  failures += 1;
  console.error(`\nscale-out suite failed: ${err.stack ?? err}`);
} finally {
  await bouncer?.stop();
  await runCleanups();
}
console.log(`\nscale-out: ${passed} passed, ${failures} failed in ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(failures === 0 ? 0 : 1);
