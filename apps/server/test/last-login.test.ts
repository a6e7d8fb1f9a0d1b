// users.last_login_at is written behind (LastLoginRecorder): user-token-auth's
// bump answers at once and the time reaches the database in one batched
// statement per flush, on close, or at once with LAST_LOGIN_FLUSH_MS=0.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Knex } from 'knex';
import { RequestBudget, runWithBudget, type Store } from '@polyauth/store';
import { LastLoginRecorder } from '../src/identity/last-login.ts';
import { openTestDatabase, startServer, type TestServer } from './harness.ts';
import { basicAuth, uniqueEmail } from './helpers.ts';

const PASSWORD = 'correct horse battery';
const JSON_TYPE = 'application/json';

async function newUser(s: TestServer) {
  const email = uniqueEmail('lastlogin');
  const user = await s.services.accounts.register({ username: email, email, password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
  return { id: user.id, email };
}

async function login(s: TestServer, identifier: string): Promise<string> {
  const r = await fetch(`${s.baseUrl}/auth/login`, {
    method: 'POST',
    headers: { accept: JSON_TYPE, authorization: basicAuth(identifier, PASSWORD) },
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { token: string }).token;
}

async function bump(s: TestServer, token: string): Promise<Date> {
  const r = await fetch(`${s.baseUrl}/auth/bump`, { method: 'POST', headers: { accept: JSON_TYPE, authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return new Date(((await r.json()) as { lastLoginTime: string }).lastLoginTime);
}

async function storedLastLogin(s: TestServer, userId: string): Promise<Date | null> {
  const row = (await s.db.knex('users').where({ id: userId }).first('last_login_at')) as { last_login_at: Date | null };
  return row.last_login_at;
}

/** The statements writing last_login_at that `knex` runs while `fn` runs. */
async function lastLoginWrites(knex: Knex, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const onQuery = (q: { sql: string }) => {
    if (/last_login_at\s*=/.test(q.sql)) seen.push(q.sql);
  };
  knex.on('query', onQuery);
  try {
    await fn();
  } finally {
    knex.off('query', onQuery);
  }
  return seen;
}

describe('buffered (LAST_LOGIN_FLUSH_MS far away, so only explicit flushes write)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ LAST_LOGIN_FLUSH_MS: '60000' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  test('bump writes nothing at once, is seen through accounts.user, and is in the database after a flush', async () => {
    const u = await newUser(srv);
    const token = await login(srv, u.email);
    await srv.services.lastLogins.flush();
    let at: Date | undefined;
    const writes = await lastLoginWrites(srv.db.knex, async () => {
      at = await bump(srv, token);
    });
    expect(writes).toEqual([]);
    expect((await srv.services.accounts.user(u.id))?.lastLoginAt?.toISOString()).toBe(at!.toISOString());
    expect(srv.services.lastLogins.pending(u.id)?.toISOString()).toBe(at!.toISOString());

    await srv.services.lastLogins.flush();
    expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(at!.toISOString());
    expect(srv.services.lastLogins.pending(u.id)).toBeUndefined();
  });

  test('a login through any API is recorded the same way, and bump never answers an earlier time', async () => {
    const u = await newUser(srv);
    const token = await login(srv, u.email);
    const afterLogin = (await srv.services.accounts.user(u.id))?.lastLoginAt;
    expect(afterLogin).toBeInstanceOf(Date);
    const at = await bump(srv, token);
    expect(at.getTime()).toBeGreaterThanOrEqual(afterLogin!.getTime());
    await srv.services.lastLogins.flush();
    expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(at.toISOString());
  });

  test('many bumps by several users are written by one statement', async () => {
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => newUser(srv)));
    const tokens = await Promise.all(users.map((u) => login(srv, u.email)));
    await srv.services.lastLogins.flush();
    const answered = new Map<string, Date>();
    const during = await lastLoginWrites(srv.db.knex, async () => {
      for (let round = 0; round < 4; round++) {
        for (const [i, u] of users.entries()) answered.set(u.id, await bump(srv, tokens[i]!));
      }
    });
    expect(during).toEqual([]);
    expect(srv.services.lastLogins.pendingCount).toBe(5);

    const flushed = await lastLoginWrites(srv.db.knex, () => srv.services.lastLogins.flush());
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toMatch(/^update users as u/);
    for (const u of users) {
      expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(answered.get(u.id)!.toISOString());
    }
    // Nothing left: a second flush writes nothing.
    expect(await lastLoginWrites(srv.db.knex, () => srv.services.lastLogins.flush())).toEqual([]);
  });

  test('a stored time is never moved backwards', async () => {
    const u = await newUser(srv);
    const token = await login(srv, u.email);
    await srv.services.lastLogins.flush();
    const future = new Date(Date.now() + 3_600_000);
    // Another instance (a clock ahead) already wrote a later time.
    await srv.db.knex('users').where({ id: u.id }).update({ last_login_at: future });
    await bump(srv, token);
    await srv.services.lastLogins.flush();
    expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(future.toISOString());

    // In memory too: an older record after a newer one keeps the newer.
    const later = new Date(Date.now() + 1000);
    await srv.services.lastLogins.record(u.id, later);
    expect((await srv.services.lastLogins.record(u.id, new Date(0))).toISOString()).toBe(later.toISOString());
    expect(srv.services.lastLogins.pending(u.id)?.toISOString()).toBe(later.toISOString());
    await srv.services.lastLogins.flush();
    expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(future.toISOString());
  });
});

test('closing the server writes the pending times before the database closes', async () => {
  const db = await openTestDatabase();
  try {
    const srv = await startServer({ LAST_LOGIN_FLUSH_MS: '60000' }, { db });
    let at: Date;
    let id: string;
    try {
      const u = await newUser(srv);
      id = u.id;
      const token = await login(srv, u.email);
      at = await bump(srv, token);
      expect(srv.services.lastLogins.pending(u.id)?.toISOString()).toBe(at.toISOString());
    } finally {
      await srv.close();
    }
    const row = (await db.knex('users').where({ id }).first('last_login_at')) as { last_login_at: Date };
    expect(row.last_login_at.toISOString()).toBe(at.toISOString());
  } finally {
    await db.close();
  }
});

test('LAST_LOGIN_FLUSH_MS=0 writes at every bump, as before', async () => {
  const srv = await startServer({ LAST_LOGIN_FLUSH_MS: '0' });
  try {
    const u = await newUser(srv);
    const token = await login(srv, u.email);
    let at: Date | undefined;
    const writes = await lastLoginWrites(srv.db.knex, async () => {
      at = await bump(srv, token);
    });
    expect(writes).toHaveLength(1);
    expect(srv.services.lastLogins.pendingCount).toBe(0);
    expect((await storedLastLogin(srv, u.id))?.toISOString()).toBe(at!.toISOString());
  } finally {
    await srv.close();
  }
});

test('the timer writes the pending times by itself', async () => {
  const srv = await startServer({ LAST_LOGIN_FLUSH_MS: '5' });
  try {
    const u = await newUser(srv);
    const token = await login(srv, u.email);
    const at = await bump(srv, token);
    // No flush is called here: only the timer can write it (a broken timer
    // leaves this loop to jest's timeout).
    // The row is visible once its statement commits, a moment before the
    // recorder forgets the entry it wrote: wait for both.
    while ((await storedLastLogin(srv, u.id))?.toISOString() !== at.toISOString() || srv.services.lastLogins.pendingCount !== 0) {
      await new Promise((r) => setImmediate(r));
    }
    expect(srv.services.lastLogins.pendingCount).toBe(0);
  } finally {
    await srv.close();
  }
});

test('a time recorded by a request that then ran out of time is still written by the timer (it does not inherit the deadline)', async () => {
  const srv = await startServer({ LAST_LOGIN_FLUSH_MS: '5' });
  try {
    const u = await newUser(srv);
    const budget = new RequestBudget(Date.now());
    budget.cutNow(); // the request's deadline passed: it gets no connection any more
    const at = new Date(Date.now() - 1000);
    await runWithBudget(budget, () => srv.services.lastLogins.record(u.id, at));
    const until = Date.now() + 20_000;
    while ((await storedLastLogin(srv, u.id))?.toISOString() !== at.toISOString()) {
      if (Date.now() > until) throw new Error('the timer never wrote the time: it ran under the cut request budget');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await srv.close();
  }
});

describe('a failed flush', () => {
  /** A store whose users.recordLastLogins fails `failures` times, then records what it is given. */
  function flakyStore(failures: number) {
    const written: Array<Array<{ userId: string; at: Date }>> = [];
    let calls = 0;
    let wake: (() => void) | undefined;
    const store = {
      users: {
        async recordLastLogins(entries: ReadonlyArray<{ userId: string; at: Date }>) {
          calls++;
          wake?.();
          if (calls <= failures) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
          written.push([...entries]);
          return new Map(entries.map((e) => [e.userId, e.at]));
        },
      },
    } as unknown as Store;
    const nextCall = () => new Promise<void>((resolve) => (wake = resolve));
    return { store, written, calls: () => calls, nextCall };
  }

  test('keeps the times, logs a warning and retries at the next tick', async () => {
    const { store, written, nextCall } = flakyStore(1);
    const warnings: string[] = [];
    const rec = new LastLoginRecorder(store, { flushMs: 1, log: { warn: (_o, msg) => warnings.push(msg) } });
    const t1 = new Date(1_000_000);
    const t2 = new Date(2_000_000);
    const firstCall = nextCall();
    await rec.record('1', t1);
    await firstCall;
    const secondCall = nextCall();
    // Meanwhile a newer time for the same user and another user.
    await rec.record('1', t2);
    await rec.record('2', t1);
    await secondCall;
    await rec.close();
    expect(warnings).toEqual(['last login times not written; retrying at the next tick']);
    expect(written.flat().sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
      { userId: '1', at: t2 },
      { userId: '2', at: t1 },
    ]);
    expect(rec.pendingCount).toBe(0);
  });

  test('an explicit flush throws and keeps the times; close() only warns', async () => {
    const { store, written } = flakyStore(2);
    const warnings: string[] = [];
    const rec = new LastLoginRecorder(store, { flushMs: 60_000, log: { warn: (_o, msg) => warnings.push(msg) } });
    const t = new Date(3_000_000);
    await rec.record('7', t);
    await expect(rec.flush()).rejects.toThrow('ECONNREFUSED');
    expect(rec.pending('7')).toEqual(t);
    await rec.close();
    expect(warnings).toEqual(['last login times could not be written at shutdown']);
    expect(written).toEqual([]);
    expect(rec.pending('7')).toEqual(t);
  });
});
