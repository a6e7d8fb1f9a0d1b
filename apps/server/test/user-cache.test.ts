// The user cache: read-only authenticated routes (auth-v3 whoAmI, mts-auth
// GET /user/{id}) answer from memory, and any change of a user or of their
// domain memberships — through the store as handlers and the admin CLI use
// it, or SQL by hand — shows on the very next request. Unit tests of the
// cache, then the real server on PGlite and on Postgres, then (Postgres) a
// change by another process.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AuthChanges, openPostgres, type Database, type Store, type User } from '@polyauth/store';
import { PROMOTE_EVERY_MS } from '../src/identity/live-cache.ts';
import { UserCache } from '../src/identity/user-cache.ts';
import { createStore, startServer, type TestServer } from './harness.ts';
import { uniqueEmail } from './helpers.ts';

const PASSWORD = 'correct horse battery';
const DATABASE_URL = process.env.DATABASE_URL;

function feed(live = true) {
  const changes = new AuthChanges();
  changes.setLive(live);
  return changes;
}

/** A store whose reads are counted, answering from `users` and `members`. */
function fakeStore() {
  const users = new Map<string, Partial<User>>();
  const members = new Set<string>();
  const reads = { users: 0, domains: 0 };
  let during: (() => void) | undefined;
  const store = {
    users: {
      byId: async (id: string) => {
        reads.users++;
        during?.();
        const u = users.get(id);
        return u ? ({ ...u, id } as User) : undefined;
      },
    },
    domains: {
      ofUser: async (id: string) => {
        reads.domains++;
        return members.has(id) ? [{ id: '1', name: 'd', createdAt: new Date(0) }] : [];
      },
    },
  } as unknown as Store;
  return { store, users, members, reads, setDuring: (f: (() => void) | undefined) => (during = f) };
}

describe('UserCache', () => {
  test('serves users and memberships from memory until the TTL, then reads again', async () => {
    let now = 1_000_000;
    const f = fakeStore();
    f.users.set('1', { firstName: 'Ada' });
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 10, changes: feed(), now: () => now });
    expect((await cache.byId('1'))?.firstName).toBe('Ada');
    expect((await cache.byId('1'))?.firstName).toBe('Ada');
    expect(await cache.inAnyDomain('1')).toBe(false);
    expect(await cache.inAnyDomain('1')).toBe(false);
    expect(f.reads).toEqual({ users: 1, domains: 1 });
    now += 30_000;
    await cache.byId('1');
    await cache.inAnyDomain('1');
    expect(f.reads).toEqual({ users: 2, domains: 2 });
  });

  test('never caches a missing user; a cached user cannot be mutated', async () => {
    const f = fakeStore();
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 10, changes: feed() });
    expect(await cache.byId('9')).toBeUndefined();
    expect(await cache.byId('9')).toBeUndefined();
    expect(f.reads.users).toBe(2);
    f.users.set('1', { firstName: 'Ada' });
    const u = (await cache.byId('1')) as User;
    expect(() => {
      u.firstName = 'Eve';
    }).toThrow();
  });

  test("a change drops that user's entries (user and membership), and only theirs", async () => {
    const changes = feed();
    const f = fakeStore();
    f.users.set('1', { firstName: 'Ada' });
    f.users.set('2', { firstName: 'Bob' });
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 10, changes });
    await cache.byId('1');
    await cache.inAnyDomain('1');
    await cache.byId('2');
    f.users.set('1', { firstName: 'Ann' });
    f.members.add('1');
    changes.emit('1');
    expect(cache.size).toBe(1);
    expect((await cache.byId('1'))?.firstName).toBe('Ann');
    expect(await cache.inAnyDomain('1')).toBe(true);
    await cache.byId('2');
    expect(f.reads.users).toBe(3); // Bob still from memory
    changes.emit(undefined); // everyone
    expect(cache.size).toBe(0);
  });

  test('is bounded: the least recently used entry goes first (recency counted to PROMOTE_EVERY_MS)', async () => {
    const f = fakeStore();
    for (const id of ['1', '2', '3']) f.users.set(id, {});
    let now = 1_000_000;
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 2, changes: feed(), now: () => now });
    await cache.byId('1');
    await cache.byId('2');
    now += PROMOTE_EVERY_MS;
    await cache.byId('1');
    await cache.byId('3');
    expect(cache.size).toBe(2);
    await cache.byId('1');
    expect(f.reads.users).toBe(3);
    await cache.byId('2');
    expect(f.reads.users).toBe(4);
  });

  test('a read that raced a change is not cached', async () => {
    const changes = feed();
    const f = fakeStore();
    f.users.set('1', {});
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 10, changes });
    f.setDuring(() => changes.emit('1'));
    await cache.byId('1');
    expect(cache.size).toBe(0);
    f.setDuring(undefined);
    await cache.byId('1');
    expect(cache.size).toBe(1);
  });

  test('bypassed and emptied while changes cannot be heard; off with a TTL of 0', async () => {
    const changes = feed();
    const f = fakeStore();
    f.users.set('1', {});
    const cache = new UserCache(f.store, { ttlSeconds: 30, maxEntries: 10, changes });
    await cache.byId('1');
    changes.setLive(false);
    expect(cache.size).toBe(0);
    expect(cache.enabled).toBe(false);
    await cache.byId('1');
    await cache.byId('1');
    expect(f.reads.users).toBe(3);
    expect(cache.size).toBe(0);
    changes.setLive(true);
    await cache.byId('1');
    await cache.byId('1');
    expect(f.reads.users).toBe(4);

    const off = new UserCache(f.store, { ttlSeconds: 0, maxEntries: 10, changes: feed() });
    expect(off.enabled).toBe(false);
    await off.byId('1');
    expect(off.size).toBe(0);
  });
});

/** A user signed in to auth-v3 and to mts-auth (tokens issued by the services, no password check). */
async function signedIn(srv: TestServer) {
  const email = uniqueEmail('ucache');
  const user = await srv.services.accounts.register(
    { username: email, email, firstName: 'Ada', lastName: 'Lovelace', password: PASSWORD },
    { api: 'test', ip: '127.0.0.1' },
  );
  const v3 = await srv.services.tokens.issueOpaque({
    api: 'auth-v3',
    kind: 'session',
    userId: user.id,
    ttl: 3600,
    value: `${user.id}-${randomBytes(16).toString('hex')}`,
  });
  const mts = await srv.services.tokens.issueJwt({ api: 'mts-auth', kind: 'access', userId: user.id, ttl: 3600 });
  return {
    id: user.id,
    whoAmI: () =>
      fetch(`${srv.baseUrl}/api/v3/auth/whoAmI`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: v3.token }),
      }),
    getUser: () => fetch(`${srv.baseUrl}/user/${user.id}`, { headers: { authorization: `Bearer ${mts.token}` } }),
  };
}
type SignedIn = Awaited<ReturnType<typeof signedIn>>;

async function who(u: SignedIn) {
  const r = await u.whoAmI();
  expect(r.status).toBe(200);
  return ((await r.json()) as { user: { firstName: string; lastName: string; userName: string; role: string } }).user;
}
async function mtsUser(u: SignedIn) {
  const r = await u.getUser();
  expect(r.status).toBe(200);
  return (await r.json()) as { FirstName: string; LastName: string; Email: string; ActiveDomains: boolean };
}

/** Resolves once `srv`'s user cache hears the database (bounded poll: the listener connects in the background). */
async function feedLive(srv: TestServer): Promise<void> {
  const start = Date.now();
  while (!srv.services.users.enabled) {
    if (Date.now() - start > 20_000) throw new Error('the change feed never came up');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Runs `body` (which warms the cache and counts queries) while the change
 * feed stays live from its start to its end. A moment with the feed off (its
 * 1 s lease lapsed: a probe's round trip was slow to be heard on a loaded
 * machine) sends reads to the database and empties the cache by design, so
 * such a try measures nothing and is made again, the cache warmed anew; a
 * feed that lapses in each of five tries fails the test, saying so. Every
 * change committed before (this test's sign-in, an earlier test's write) is
 * heard first, so none of them empties the cache in the middle.
 */
async function whileLive<T>(srv: TestServer, body: () => Promise<T>): Promise<T> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    await feedLive(srv);
    await srv.db.authChanges.sync();
    let lapsed = false;
    const unwatch = srv.db.authChanges.watch((on) => {
      if (!on) lapsed = true;
    });
    try {
      const result = await body();
      if (!lapsed && srv.services.users.enabled) return result;
    } finally {
      unwatch();
    }
  }
  throw new Error('the change feed lapsed during each of five tries: the cache could not be measured warm');
}

/**
 * The number of queries `srv` ran while `fn` ran, but for the change feed's
 * own probe (`select pg_notify`, every 250 ms through the pool, whatever the
 * requests do): no request runs pg_notify itself (triggers do).
 */
async function queries(srv: TestServer, fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const on = (q: { sql: string }) => {
    if (!/^select pg_notify\(/i.test(q.sql)) n++;
  };
  srv.db.knex.on('query', on);
  try {
    await fn();
  } finally {
    srv.db.knex.off('query', on);
  }
  return n;
}

describe(`users with the cache on (${DATABASE_URL ? 'Postgres' : 'PGlite'})`, () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
    await feedLive(srv); // PGlite: at once; Postgres: once the listening connection is up
  });
  afterAll(async () => {
    await srv?.close();
  });

  test('whoAmI and GET /user/{id} run no query once warm', async () => {
    const u = await signedIn(srv);
    const counted = await whileLive(srv, async () => {
      await who(u);
      await mtsUser(u);
      return [await queries(srv, () => who(u)), await queries(srv, () => mtsUser(u))];
    });
    expect(counted).toEqual([0, 0]);
  });

  test("a login's last_login_at (and updated_at) alone does not empty the cache", async () => {
    const u = await signedIn(srv);
    const counted = await whileLive(srv, async () => {
      await who(u);
      await mtsUser(u);
      await srv.db.knex('users').where({ id: u.id }).update({ last_login_at: new Date(), updated_at: new Date() });
      return [await queries(srv, () => who(u)), await queries(srv, () => mtsUser(u))];
    });
    expect(counted).toEqual([0, 0]);
  });

  const writes: Array<[string, (u: SignedIn) => Promise<unknown>, (u: SignedIn) => Promise<void>]> = [
    [
      'users.update role and names',
      (u) => srv.services.store.users.update(u.id, { role: 'PROJECT_MANAGER', firstName: 'Grace', lastName: 'Hopper' }),
      async (u) => {
        expect(await who(u)).toMatchObject({ role: 'PROJECT_MANAGER', firstName: 'Grace', lastName: 'Hopper' });
        expect(await mtsUser(u)).toMatchObject({ FirstName: 'Grace', LastName: 'Hopper' });
      },
    ],
    [
      'a transaction of the admin CLI (createStore over it): role',
      (u) => srv.db.knex.transaction((trx) => createStore(trx).users.update(u.id, { role: 'ADMIN' })),
      async (u) => {
        expect((await who(u)).role).toBe('ADMIN');
      },
    ],
    [
      'SQL by hand: username, email and last name',
      (u) => srv.db.knex('users').where({ id: u.id }).update({ username: `renamed-${u.id}`, email: `renamed-${u.id}@example.test`, last_name: 'Byron' }),
      async (u) => {
        expect(await who(u)).toMatchObject({ userName: `renamed-${u.id}`, lastName: 'Byron' });
        expect(await mtsUser(u)).toMatchObject({ Email: `renamed-${u.id}@example.test`, LastName: 'Byron' });
      },
    ],
    [
      'users.update disabled',
      (u) => srv.services.store.users.update(u.id, { disabled: true }),
      async (u) => {
        expect((await u.whoAmI()).status).toBe(401);
        expect((await u.getUser()).status).toBe(401);
      },
    ],
    [
      'SQL by hand: disabled',
      (u) => srv.db.knex('users').where({ id: u.id }).update({ disabled: true }),
      async (u) => {
        expect((await u.whoAmI()).status).toBe(401);
        expect((await u.getUser()).status).toBe(401);
      },
    ],
    [
      'domains.addMember',
      async (u) => srv.services.store.domains.addMember((await srv.services.store.domains.create(`uc-${u.id}`)).id, u.id),
      async (u) => {
        expect((await mtsUser(u)).ActiveDomains).toBe(true);
      },
    ],
  ];
  test.each(writes)('%s: visible on the next request', async (_name, write, check) => {
    const u = await signedIn(srv);
    // served from memory before the write
    const before = await whileLive(srv, async () => {
      expect(await who(u)).toMatchObject({ role: 'LINGUIST', firstName: 'Ada' });
      expect(await mtsUser(u)).toMatchObject({ FirstName: 'Ada', ActiveDomains: false });
      return queries(srv, () => who(u));
    });
    expect(before).toBe(0);
    await write(u);
    await check(u);
  });

  test.each([
    ['SQL by hand: membership deleted', (u: SignedIn) => srv.db.knex('domain_memberships').where({ user_id: u.id }).del()],
    ['SQL by hand: domain deleted (cascade)', (u: SignedIn) => srv.db.knex('domains').where({ name: `ucd-${u.id}` }).del()],
  ])('%s: activeDomains false on the next request', async (_name, write) => {
    const u = await signedIn(srv);
    await srv.services.store.domains.addMember((await srv.services.store.domains.create(`ucd-${u.id}`)).id, u.id);
    const before = await whileLive(srv, async () => {
      expect((await mtsUser(u)).ActiveDomains).toBe(true);
      return queries(srv, () => mtsUser(u));
    });
    expect(before).toBe(0);
    await write(u);
    expect((await mtsUser(u)).ActiveDomains).toBe(false);
  });
});

describe('users with the cache on, changed by another process (Postgres)', () => {
  if (!DATABASE_URL) {
    const reason =
      'NOT RUN: a change by another process (admin CLI) needs a shared Postgres. Set ' +
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (npm run test:pg; CI always sets it).';
    process.stderr.write(`\n[polyauth] user-cache.test.ts: ${reason}\n`);
    test.skip(reason, () => undefined);
    return;
  }

  let srv: TestServer;
  let other: Database;
  beforeAll(async () => {
    srv = await startServer();
    const { rows } = await srv.db.knex.raw('select current_database() as name');
    const url = new URL(DATABASE_URL);
    url.pathname = `/${(rows as Array<{ name: string }>)[0]!.name}`;
    other = await openPostgres({ url: url.toString(), poolMax: 1 });
    await feedLive(srv);
  });
  afterAll(async () => {
    await other?.close();
    await srv?.close();
  });

  test('a role change by the admin CLI reaches the server through NOTIFY', async () => {
    const u = await signedIn(srv);
    expect((await who(u)).role).toBe('LINGUIST');
    const heard = new Promise<void>((resolve) => {
      const on = (who: string) => {
        if (who !== u.id && who !== '*') return;
        srv.services.tokenCache.off('invalidated', on);
        resolve();
      };
      srv.services.tokenCache.on('invalidated', on);
    });
    await other.knex.transaction((trx) => createStore(trx).users.update(u.id, { role: 'ADMIN', firstName: 'Grace' }));
    await heard; // the same notification feeds the user cache
    expect(await who(u)).toMatchObject({ role: 'ADMIN', firstName: 'Grace' });
  });
});
