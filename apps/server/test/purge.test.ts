// The purge of dead rows: expired and revoked tokens, used and expired
// one-time tokens, idle throttle counters; in bounded batches, one server at
// a time, audit_log kept. Time is driven by writing past times into the rows.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { PURGE_LOCK_KEY, type User } from '@polyauth/store';
import { Purger } from '../src/identity/purge.ts';
import { startServer, type TestServer } from './harness.ts';
import { uniqueEmail } from './helpers.ts';

let srv: TestServer;
const RETENTION = 3600;
const BATCH = 3;

beforeAll(async () => {
  srv = await startServer({ PURGE_BATCH_SIZE: String(BATCH), PURGE_RETENTION_SECONDS: String(RETENTION), PURGE_INTERVAL_SECONDS: '0' });
});

afterAll(async () => {
  await srv?.close();
});

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
const hash = () => randomBytes(32).toString('hex');

async function newUser(): Promise<User> {
  const email = uniqueEmail('purge');
  return srv.services.accounts.register(
    { username: email.split('@')[0]!, email, firstName: 'P', lastName: 'G', password: 'purge test password' },
    { api: 'test', ip: '127.0.0.1' },
  );
}

async function count(table: string, where: (q: ReturnType<TestServer['db']['knex']>) => unknown = () => undefined): Promise<number> {
  const q = srv.db.knex(table);
  where(q);
  const [row] = await q.count({ n: '*' });
  return Number((row as { n: unknown }).n);
}

/** Rows of every kind for one user: `dead` past the retention, `kept` not (yet). Returns the user's id. */
async function seed(dead: number): Promise<{ userId: string; keptTokens: number; keptOneTime: number }> {
  const user = await newUser();
  const k = srv.db.knex;
  const token = (o: { expires_at?: Date | null; revoked_at?: Date | null; parent_id?: string }) =>
    k('tokens')
      .insert({ api: 'test', kind: 'purge', token_hash: hash(), user_id: user.id, expires_at: null, ...o })
      .returning('id')
      .then((rows) => String((rows[0] as { id: string }).id));
  for (let i = 0; i < dead; i++) {
    await token({ expires_at: ago(RETENTION + 60 + i) });
    await token({ revoked_at: ago(RETENTION + 60 + i) });
  }
  // Kept: live, expired within the retention, revoked within it, and a dead
  // parent of a live child (deleting it would cascade to the child).
  await token({});
  await token({ expires_at: ago(10) });
  await token({ revoked_at: ago(10) });
  const parent = await token({ expires_at: ago(RETENTION * 2) });
  await token({ parent_id: parent });
  const oneTime = (o: { expires_at: Date; consumed_at?: Date | null }) =>
    k('one_time_tokens').insert({ purpose: 'password_reset', token_hash: hash(), user_id: user.id, consumed_at: null, ...o });
  for (let i = 0; i < dead; i++) {
    await oneTime({ expires_at: ago(RETENTION + 60) });
    await oneTime({ expires_at: new Date(Date.now() + 3_600_000), consumed_at: ago(RETENTION + 60) });
  }
  await oneTime({ expires_at: new Date(Date.now() + 3_600_000) });
  await oneTime({ expires_at: ago(10) });
  return { userId: user.id, keptTokens: 5, keptOneTime: 2 };
}

describe('purge', () => {
  test('deletes dead tokens, one-time tokens and idle throttle counters in batches; keeps the live, the recent and audit_log', async () => {
    const { userId, keptTokens, keptOneTime } = await seed(7);
    const k = srv.db.knex;
    const idle = Math.max(RETENTION, srv.services.config.throttle.windowSeconds, 3600) + 60;
    const prefix = `purge-test:${userId}:`;
    await k('throttle').insert([
      ...Array.from({ length: 8 }, (_, i) => ({ key: `${prefix}idle-${i}`, failures: 2, lockouts: 1, window_start: ago(idle), locked_until: ago(idle) })),
      { key: `${prefix}idle-never-locked`, failures: 1, lockouts: 0, window_start: ago(idle), locked_until: null },
      { key: `${prefix}counting`, failures: 3, lockouts: 0, window_start: ago(30), locked_until: null },
      { key: `${prefix}locked`, failures: 0, lockouts: 4, window_start: ago(idle), locked_until: new Date(Date.now() + 600_000) },
      { key: `${prefix}escalation-remembered`, failures: 0, lockouts: 2, window_start: ago(idle), locked_until: ago(60) },
    ]);
    const mine = (q: ReturnType<typeof k>) => q.where({ user_id: userId });
    expect(await count('tokens', mine)).toBe(14 + keptTokens);
    expect(await count('one_time_tokens', mine)).toBe(14 + keptOneTime);
    const audit = await count('audit_log');

    const result = await srv.services.purger.runOnce();
    expect(result.busy).toBe(false);
    // Other tests' rows may share the database: at least ours went.
    expect(result.tokens).toBeGreaterThanOrEqual(14);
    expect(result.oneTimeTokens).toBeGreaterThanOrEqual(14);
    expect(result.throttle).toBeGreaterThanOrEqual(9);

    expect(await count('tokens', mine)).toBe(keptTokens);
    expect(await count('one_time_tokens', mine)).toBe(keptOneTime);
    const left = (await k('throttle').where('key', 'like', `${prefix}%`).orderBy('key').pluck('key')) as string[];
    expect(left).toEqual([`${prefix}counting`, `${prefix}escalation-remembered`, `${prefix}locked`].sort());
    expect(await count('audit_log')).toBe(audit);

    // The live token still works; a second run finds nothing of ours.
    expect((await srv.services.purger.runOnce()).busy).toBe(false);
    expect(await count('tokens', mine)).toBe(keptTokens);
  });

  test('the tables shrink back to their live rows after real logins expire', async () => {
    const user = await newUser();
    const before = await count('tokens', (q) => q.where({ user_id: user.id }));
    const issued = await Promise.all(
      Array.from({ length: 10 }, () => srv.services.tokens.issueOpaque({ api: 'user-token-auth', kind: 'user', userId: user.id, ttl: 600 })),
    );
    expect(await count('tokens', (q) => q.where({ user_id: user.id }))).toBe(before + 10);
    // Eight of them expire (written into the rows, past the retention).
    const expired = issued.slice(0, 8).map((t) => t.row.id);
    await srv.db.knex('tokens').whereIn('id', expired).update({ expires_at: ago(RETENTION + 1) });
    await srv.services.purger.runOnce();
    const left = (await srv.db.knex('tokens').where({ user_id: user.id }).pluck('id')).map(String).sort();
    expect(left).toEqual(issued.slice(8).map((t) => t.row.id).sort());
  });

  test('scheduled: PURGE_INTERVAL_SECONDS runs it without being asked; stopped by close', async () => {
    const user = await newUser();
    await srv.db.knex('tokens').insert({ api: 'test', kind: 'purge', token_hash: hash(), user_id: user.id, expires_at: ago(RETENTION + 60) });
    const purger = new Purger(
      srv.services.store,
      { intervalMs: 200, batchSize: 100, retentionSeconds: RETENTION, throttleIdleSeconds: 7200 },
      srv.services.log,
    );
    purger.start();
    try {
      // Bounded wait for the first scheduled run (not a timing assertion).
      for (let i = 0; i < 100 && (await count('tokens', (q) => q.where({ user_id: user.id }))) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await count('tokens', (q) => q.where({ user_id: user.id }))).toBe(0);
    } finally {
      await purger.close();
    }
  });

  const pg = process.env.DATABASE_URL ? test : test.skip;
  if (!process.env.DATABASE_URL) console.warn('[purge.test] the one-server-at-a-time tests need Postgres: DATABASE_URL is unset');
  pg('one server at a time: while another holds the purge lock this one skips (busy) and deletes nothing; parallel runs delete each row once', async () => {
    const { userId } = await seed(4);
    const mine = (q: ReturnType<TestServer['db']['knex']>) => q.where({ user_id: userId });
    const before = await count('tokens', mine);
    await srv.db.knex.transaction(async (trx) => {
      const [row] = (await trx.raw('select pg_try_advisory_xact_lock(cast(? as bigint)) as ok', [PURGE_LOCK_KEY])).rows as Array<{ ok: boolean }>;
      expect(row!.ok).toBe(true);
      const r = await srv.services.purger.runOnce();
      expect(r).toEqual({ tokens: 0, oneTimeTokens: 0, throttle: 0, busy: true });
      expect(await count('tokens', mine)).toBe(before);
    });
    const all = (q: ReturnType<TestServer['db']['knex']>) => q;
    const totalBefore = await count('tokens', all);
    const runs = await Promise.all(Array.from({ length: 4 }, () => srv.services.purger.runOnce()));
    expect(await count('tokens', mine)).toBe(5);
    // Each dead row was deleted by exactly one run: what the runs say they
    // deleted is what left the table (this user's 8 dead rows among them).
    const deleted = totalBefore - (await count('tokens', all));
    expect(deleted).toBeGreaterThanOrEqual(8);
    expect(runs.reduce((n, r) => n + r.tokens, 0)).toBe(deleted);
  });
});
