// The repositories against a real database (PGlite by default, Postgres with
// DATABASE_URL): uniqueness, races, token liveness, single use, throttling,
// audit, and counts that are numbers on both drivers.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createStore, IdentifierTakenError, PENDING_RETRY_AFTER_SECONDS, RESERVATION_STALE_SECONDS, type Database, type Store, type ThrottlePolicy } from '../src/index.ts';
import { onPostgres, openMigratedDatabase } from './databases.ts';

let db: Database;
let store: Store;
beforeAll(async () => {
  db = await openMigratedDatabase();
  store = createStore(db.knex);
});
afterAll(async () => {
  await db?.close();
});

const uid = () => randomUUID().slice(0, 8);
const hash = () => `h-${randomUUID()}`;
const newUser = (username = `user-${uid()}`, email: string | null = `${username}@example.com`) =>
  store.users.create({ username, email, passwordHash: 'not-a-real-hash' });

/** Settles all and tells winners from losers. */
async function settle<T>(promises: Array<Promise<T>>) {
  const results = await Promise.allSettled(promises);
  return {
    ok: results.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled').map((r) => r.value),
    failed: results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown),
  };
}

describe(`users (${onPostgres ? 'Postgres' : 'PGlite'})`, () => {
  test('create trims, keeps case for display, and finds by either identifier in any case', async () => {
    const name = `Ada-${uid()}`;
    const u = await store.users.create({ username: `  ${name} `, email: ` ${name}@Example.COM `, passwordHash: 'x', firstName: 'Ada' });
    expect(u.id).toMatch(/^[1-9][0-9]*$/);
    expect(u.username).toBe(name);
    expect(u.email).toBe(`${name}@Example.COM`);
    expect(u.role).toBe('LINGUIST');
    expect((await store.users.byIdentifier(name.toUpperCase()))?.id).toBe(u.id);
    expect((await store.users.byIdentifier(` ${name.toLowerCase()}@example.com`))?.id).toBe(u.id);
    expect((await store.users.byEmail(`${name}@EXAMPLE.com`))?.id).toBe(u.id);
    expect(await store.users.byEmail(name)).toBeUndefined(); // a username is not an email
    expect(await store.users.byId('0')).toBeUndefined();
    expect(await store.users.byId('not-a-number')).toBeUndefined();
  });

  test('username and email are unique case-insensitively, across both kinds', async () => {
    const a = await newUser(`Grace-${uid()}`);
    const before = await store.users.count();

    const sameName = store.users.create({ username: a.username.toUpperCase(), email: `${uid()}@example.com`, passwordHash: 'x' });
    await expect(sameName).rejects.toBeInstanceOf(IdentifierTakenError);
    await expect(sameName).rejects.toMatchObject({ field: 'username' });

    const sameEmail = store.users.create({ username: `other-${uid()}`, email: a.email!.toUpperCase(), passwordHash: 'x' });
    await expect(sameEmail).rejects.toMatchObject({ name: 'IdentifierTakenError', field: 'email' });

    // someone's email cannot become another person's username, nor the reverse
    await expect(store.users.create({ username: a.email!, email: null, passwordHash: 'x' })).rejects.toMatchObject({ field: 'username' });
    await expect(store.users.create({ username: `x-${uid()}`, email: a.username, passwordHash: 'x' })).rejects.toMatchObject({ field: 'email' });

    // a refused registration leaves nothing behind
    expect(await store.users.count()).toBe(before);
    // a username equal to one's own email is fine
    const e = `self-${uid()}@example.com`;
    const self = await store.users.create({ username: e, email: e.toUpperCase(), passwordHash: 'x' });
    expect((await store.users.byIdentifier(e))?.id).toBe(self.id);
  });

  test('two concurrent identical registrations: exactly one success and one IdentifierTakenError, one row', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `race-${uid()}`;
      const { ok, failed } = await settle([newUser(name), newUser(name.toUpperCase(), `${name}@EXAMPLE.com`)]);
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toBeInstanceOf(IdentifierTakenError);
      const rows = await db.knex('users').whereRaw('lower(username) = ?', [name]);
      expect(rows).toHaveLength(1);
      expect(await db.knex('user_identifiers').where({ user_id: ok[0]!.id })).toHaveLength(2);
    }
  });

  test('count is a number on both drivers', async () => {
    const n = await store.users.count();
    expect(typeof n).toBe('number');
    await newUser();
    expect(await store.users.count()).toBe(n + 1);
    const c = await store.clients.count();
    expect(typeof c).toBe('number');
    await store.clients.create({ kind: 'oauth', clientId: `c-${uid()}`, secretHash: hash(), name: 'count' });
    expect(await store.clients.count()).toBe(c + 1);
  });
});

describe('tokens', () => {
  test('findLive: right hash, api and kind; not revoked, expired, disabled, or of a disabled user', async () => {
    const u = await newUser();
    const h = hash();
    const t = await store.tokens.insert({ api: 'mint-auth', kind: 'user', tokenHash: h, userId: u.id });
    expect(t.userId).toBe(u.id);
    expect((await store.tokens.findLive('mint-auth', 'user', h))?.id).toBe(t.id);
    expect(await store.tokens.findLive('auth-v3', 'user', h)).toBeUndefined(); // scoped to its API
    expect(await store.tokens.findLive('mint-auth', 'refresh', h)).toBeUndefined();
    expect(await store.tokens.findLive('mint-auth', 'user', hash())).toBeUndefined();

    // a disabled user's tokens are dead, and live again when the user is re-enabled
    await store.users.update(u.id, { disabled: true });
    expect(await store.tokens.findLive('mint-auth', 'user', h)).toBeUndefined();
    await store.users.update(u.id, { disabled: false });
    expect(await store.tokens.findLive('mint-auth', 'user', h)).toBeDefined();

    // a disabled token
    await db.knex('tokens').where({ id: t.id }).update({ enabled: false });
    expect(await store.tokens.findLive('mint-auth', 'user', h)).toBeUndefined();
    await db.knex('tokens').where({ id: t.id }).update({ enabled: true });

    // expiry: in the future is live, in the past is not
    const future = hash();
    await store.tokens.insert({ api: 'mint-auth', kind: 'user', tokenHash: future, userId: u.id, expiresAt: new Date(Date.now() + 3_600_000) });
    expect(await store.tokens.findLive('mint-auth', 'user', future)).toBeDefined();
    const past = hash();
    await store.tokens.insert({ api: 'mint-auth', kind: 'user', tokenHash: past, userId: u.id, expiresAt: new Date(Date.now() - 1000) });
    expect(await store.tokens.findLive('mint-auth', 'user', past)).toBeUndefined();

    // revoked
    expect(await store.tokens.revokeFamily(t.id)).toBe(1);
    expect(await store.tokens.findLive('mint-auth', 'user', h)).toBeUndefined();
  });

  test('revokeFamily revokes the token and its children only, once', async () => {
    const u = await newUser();
    const parent = await store.tokens.insert({ api: 'oauth-service', kind: 'refresh', tokenHash: hash(), userId: u.id });
    const kids = await Promise.all(
      [1, 2].map(() => store.tokens.insert({ api: 'oauth-service', kind: 'access', tokenHash: hash(), userId: u.id, parentId: parent.id })),
    );
    const otherHash = hash();
    const other = await store.tokens.insert({ api: 'oauth-service', kind: 'refresh', tokenHash: otherHash, userId: u.id });
    expect(await store.tokens.revokeFamily(parent.id)).toBe(3);
    expect(await store.tokens.revokeFamily(parent.id)).toBe(0);
    const rows = await db.knex('tokens').whereIn('id', [parent.id, ...kids.map((k) => k.id), other.id]).select('id', 'revoked_at');
    const revoked = Object.fromEntries(rows.map((r: { id: unknown; revoked_at: unknown }) => [String(r.id), r.revoked_at !== null]));
    expect(revoked).toEqual({ [parent.id]: true, [kids[0]!.id]: true, [kids[1]!.id]: true, [other.id]: false });
    expect((await store.tokens.findLive('oauth-service', 'refresh', otherHash))?.id).toBe(other.id);
  });

  test('revokeAllForUser keeps the excepted token and touches no one else', async () => {
    const [u, v] = [await newUser(), await newUser()];
    const keep = await store.tokens.insert({ api: 'mts-auth', kind: 'access', tokenHash: hash(), userId: u.id });
    await store.tokens.insert({ api: 'mts-auth', kind: 'access', tokenHash: hash(), userId: u.id });
    await store.tokens.insert({ api: 'auth-v3', kind: 'session', tokenHash: hash(), userId: u.id });
    const vh = hash();
    await store.tokens.insert({ api: 'mts-auth', kind: 'access', tokenHash: vh, userId: v.id });
    expect(await store.tokens.revokeAllForUser(u.id, keep.id)).toBe(2);
    expect((await store.tokens.byId(keep.id))?.id).toBe(keep.id);
    expect(await store.tokens.findLive('mts-auth', 'access', vh)).toBeDefined();
  });

  test('consume: of concurrent consumers of one token exactly one wins', async () => {
    const u = await newUser();
    const t = await store.tokens.insert({ api: 'auth-v3', kind: 'authByToken', tokenHash: hash(), userId: u.id });
    const wins = await Promise.all(Array.from({ length: 8 }, () => store.tokens.consume(t.id)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await store.tokens.consume(t.id)).toBe(false);
  });
});

describe('one-time tokens', () => {
  test('single use, even under concurrency; purpose and expiry are checked', async () => {
    const u = await newUser();
    const h = hash();
    await store.oneTimeTokens.create({ purpose: 'password_reset', tokenHash: h, userId: u.id, expiresAt: new Date(Date.now() + 3_600_000) });
    expect(await store.oneTimeTokens.consume('email_verify', h)).toBeUndefined(); // another purpose
    expect((await store.oneTimeTokens.peek('password_reset', h))?.userId).toBe(u.id);
    expect((await store.oneTimeTokens.peek('password_reset', h))?.userId).toBe(u.id); // peeking does not consume

    const [a, b] = await Promise.all([store.oneTimeTokens.consume('password_reset', h), store.oneTimeTokens.consume('password_reset', h)]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect((a ?? b)!.userId).toBe(u.id);
    expect(await store.oneTimeTokens.consume('password_reset', h)).toBeUndefined();
    expect(await store.oneTimeTokens.peek('password_reset', h)).toBeUndefined();

    const many = hash();
    await store.oneTimeTokens.create({ purpose: 'email_verify', tokenHash: many, userId: u.id, expiresAt: new Date(Date.now() + 3_600_000) });
    const results = await Promise.all(Array.from({ length: 8 }, () => store.oneTimeTokens.consume('email_verify', many)));
    expect(results.filter(Boolean)).toHaveLength(1);

    const expired = hash();
    await store.oneTimeTokens.create({ purpose: 'email_verify', tokenHash: expired, userId: u.id, expiresAt: new Date(Date.now() - 1000) });
    expect(await store.oneTimeTokens.peek('email_verify', expired)).toBeUndefined();
    expect(await store.oneTimeTokens.consume('email_verify', expired)).toBeUndefined();
  });

  test('consumeAllForUser invalidates that user’s outstanding tokens of that purpose only', async () => {
    const u = await newUser();
    const later = new Date(Date.now() + 3_600_000);
    const [r1, r2, v1] = [hash(), hash(), hash()];
    await store.oneTimeTokens.create({ purpose: 'password_reset', tokenHash: r1, userId: u.id, expiresAt: later });
    await store.oneTimeTokens.create({ purpose: 'password_reset', tokenHash: r2, userId: u.id, expiresAt: later });
    await store.oneTimeTokens.create({ purpose: 'email_verify', tokenHash: v1, userId: u.id, expiresAt: later });
    await store.oneTimeTokens.consumeAllForUser('password_reset', u.id);
    expect(await store.oneTimeTokens.peek('password_reset', r1)).toBeUndefined();
    expect(await store.oneTimeTokens.peek('password_reset', r2)).toBeUndefined();
    expect(await store.oneTimeTokens.peek('email_verify', v1)).toBeDefined();
  });
});

describe('throttle', () => {
  const policy: ThrottlePolicy = { maxFailures: 3, windowSeconds: 600, lockoutSeconds: 10, maxLockoutSeconds: 35 };
  const none = { lockedFor: 0, lockedNow: false };

  test('locks at the limit, with exponential backoff up to the cap', async () => {
    const key = `test:${uid()}`;
    const unlock = () => db.knex('throttle').where({ key }).update({ locked_until: db.knex.raw(`now() - interval '1 second'`) });
    const lockAfter = async () => {
      expect(await store.throttle.hit(key, policy)).toEqual(none);
      expect(await store.throttle.hit(key, policy)).toEqual(none);
      const locked = await store.throttle.hit(key, policy);
      expect(locked.lockedNow).toBe(true);
      return locked.lockedFor;
    };
    expect(await store.throttle.lockedFor([key])).toBe(0);
    expect(await lockAfter()).toBe(10);
    const locked = await store.throttle.lockedFor([key, `test:${uid()}`]);
    expect(locked).toBeGreaterThan(0);
    expect(locked).toBeLessThanOrEqual(10);
    // a hit while locked is refused and not counted
    const refused = await store.throttle.hit(key, policy);
    expect(refused.lockedNow).toBe(false);
    expect(refused.lockedFor).toBeGreaterThan(0);
    await unlock();
    expect(await lockAfter()).toBe(20);
    await unlock();
    expect(await lockAfter()).toBe(35); // 40, capped
    await unlock();
    expect(await lockAfter()).toBe(35);
    expect(await store.throttle.lockedFor([key])).toBeGreaterThan(20);

    await store.throttle.clear(key);
    expect(await store.throttle.lockedFor([key])).toBe(0);
    expect(await lockAfter()).toBe(10); // cleared: the backoff starts over
  });

  test('a limit of one locks on the first hit; many lockouts do not overflow', async () => {
    const key = `test:${uid()}`;
    const one = { ...policy, maxFailures: 1 };
    expect(await store.throttle.hit(key, one)).toEqual({ lockedFor: 10, lockedNow: true });
    await db.knex('throttle').where({ key }).update({ lockouts: 5000, locked_until: null });
    expect(await store.throttle.hit(key, one)).toEqual({ lockedFor: 35, lockedNow: true });
  });

  test('failures older than the window are forgotten; the escalation after a quiet day', async () => {
    const key = `test:${uid()}`;
    expect(await store.throttle.hit(key, policy)).toEqual(none);
    expect(await store.throttle.hit(key, policy)).toEqual(none);
    await db.knex('throttle').where({ key }).update({ window_start: db.knex.raw(`now() - interval '1 hour'`) });
    expect(await store.throttle.hit(key, policy)).toEqual(none); // counts as the first of a new window
    expect(await store.throttle.hit(key, policy)).toEqual(none);
    expect((await store.throttle.hit(key, policy)).lockedFor).toBe(10);
    await db.knex('throttle').where({ key }).update({ locked_until: null, lockouts: 3, window_start: db.knex.raw(`now() - interval '25 hours'`) });
    for (let i = 0; i < 2; i++) expect(await store.throttle.hit(key, policy)).toEqual(none);
    expect((await store.throttle.hit(key, policy)).lockedFor).toBe(10); // not 35: the escalation was forgotten
  });

  test('concurrent hits: exactly one takes the lock, none is counted while it holds', async () => {
    const key = `test:${uid()}`;
    const results = await Promise.all(Array.from({ length: 9 }, () => store.throttle.hit(key, policy)));
    expect(results.filter((r) => r.lockedNow)).toEqual([{ lockedFor: 10, lockedNow: true }]);
    expect(results.filter((r) => r.lockedFor === 0)).toHaveLength(2);
    const row = await db.knex('throttle').where({ key }).first();
    expect(Number(row.lockouts)).toBe(1);
    expect(Number(row.failures)).toBe(0);
  });
});

describe('throttle reservations', () => {
  const policy: ThrottlePolicy = { maxFailures: 3, windowSeconds: 600, lockoutSeconds: 10, maxLockoutSeconds: 35 };
  const wide: ThrottlePolicy = { ...policy, maxFailures: 100 };
  const counters = () => [
    { key: `test:acct:${uid()}`, policy },
    { key: `test:ip:${uid()}`, policy: wide },
  ];
  const row = async (key: string) => {
    const r = await db.knex('throttle').where({ key }).first();
    return { failures: Number(r.failures), pending: Number(r.pending), lockouts: Number(r.lockouts), locked: r.locked_until !== null && new Date(r.locked_until) > new Date() };
  };

  test('of many parallel reservations, only the budget is granted, and only the failures lock', async () => {
    const c = counters();
    const results = await Promise.all(Array.from({ length: 12 }, () => store.throttle.reserve(c)));
    const granted = results.filter((r) => r.ok);
    expect(granted).toHaveLength(3);
    // the refused ones are told to ask again once the attempts in flight settle (no lock yet)
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? 0 : r.retryAfter))).toEqual(Array(9).fill(PENDING_RETRY_AFTER_SECONDS));
    expect(await row(c[0]!.key)).toEqual({ failures: 0, pending: 3, lockouts: 0, locked: false });
    expect(await row(c[1]!.key)).toMatchObject({ failures: 0, pending: 3 });
    const locks = await Promise.all(granted.map(() => store.throttle.settle(c, 'failure')));
    expect(locks.filter((s) => s > 0)).toEqual([10]);
    expect(await row(c[0]!.key)).toEqual({ failures: 0, pending: 0, lockouts: 1, locked: true });
    expect(await row(c[1]!.key)).toEqual({ failures: 3, pending: 0, lockouts: 0, locked: false });
    const refused = await store.throttle.reserve(c);
    expect(refused).toEqual({ ok: false, retryAfter: 10 }); // now the lock's own time
    expect(await row(c[1]!.key)).toMatchObject({ pending: 0 }); // nothing counted on the other counter either
  });

  test('a success forgets the settled failures of the keys it resets, not those in flight, not the escalation', async () => {
    const c = counters();
    await store.throttle.reserve(c);
    await store.throttle.settle(c, 'failure');
    await db.knex('throttle').where({ key: c[0]!.key }).update({ lockouts: 2 });
    expect((await store.throttle.reserve(c)).ok).toBe(true); // in flight
    expect((await store.throttle.reserve(c)).ok).toBe(true); // the one that succeeds
    expect((await store.throttle.reserve(c)).ok).toBe(false); // 1 failure + 2 in flight = 3
    await store.throttle.settle(c, 'success', [c[0]!.key]);
    expect(await row(c[0]!.key)).toEqual({ failures: 0, pending: 1, lockouts: 2, locked: false });
    expect(await row(c[1]!.key)).toEqual({ failures: 1, pending: 1, lockouts: 0, locked: false });
    // the one still in flight holds its place: two more, then no more
    expect((await store.throttle.reserve(c)).ok).toBe(true);
    expect((await store.throttle.reserve(c)).ok).toBe(true);
    expect((await store.throttle.reserve(c)).ok).toBe(false);
  });

  test('neutral gives back only the reservation; a success does not lift a lock in force', async () => {
    const c = counters();
    const granted = await Promise.all(Array.from({ length: 3 }, () => store.throttle.reserve(c)));
    expect(granted.every((g) => g.ok)).toBe(true);
    await store.throttle.settle(c, 'failure');
    await store.throttle.settle(c, 'failure');
    await store.throttle.settle(c, 'neutral');
    expect(await row(c[0]!.key)).toEqual({ failures: 2, pending: 0, lockouts: 0, locked: false });
    expect((await store.throttle.reserve(c)).ok).toBe(true);
    expect((await store.throttle.reserve(c)).ok).toBe(false);
    expect(await store.throttle.settle(c, 'failure')).toBe(10);
    expect(await row(c[0]!.key)).toEqual({ failures: 0, pending: 0, lockouts: 1, locked: true });
    // a lock taken (here by hand) while a success was being compared stays
    const d = counters();
    expect((await store.throttle.reserve(d)).ok).toBe(true);
    await db.knex('throttle').where({ key: d[0]!.key }).update({ lockouts: 1, locked_until: db.knex.raw(`now() + interval '1 minute'`) });
    await store.throttle.settle(d, 'success', [d[0]!.key]);
    expect(await row(d[0]!.key)).toEqual({ failures: 0, pending: 0, lockouts: 1, locked: true });
  });

  test('reservations of a server that died before settling stop holding the budget', async () => {
    const c = counters();
    for (let i = 0; i < 3; i++) expect((await store.throttle.reserve(c)).ok).toBe(true);
    expect((await store.throttle.reserve(c)).ok).toBe(false);
    await db.knex('throttle').whereIn('key', [c[0]!.key, c[1]!.key]).update({ reserved_at: db.knex.raw(`now() - interval '${RESERVATION_STALE_SECONDS + 1} seconds'`) });
    expect((await store.throttle.reserve(c)).ok).toBe(true);
    expect(await row(c[0]!.key)).toMatchObject({ pending: 1 });
  });

  test('two counters are reserved together or not at all', async () => {
    const [account, address] = counters();
    const other = { key: `test:acct:${uid()}`, policy };
    // spend the address's budget through another account
    const tight = { ...address!, policy };
    for (let i = 0; i < 3; i++) expect((await store.throttle.reserve([other, tight])).ok).toBe(true);
    expect(await store.throttle.reserve([account!, tight])).toEqual({ ok: false, retryAfter: PENDING_RETRY_AFTER_SECONDS });
    expect(await db.knex('throttle').where({ key: account!.key }).first()).toMatchObject({ pending: 0 });
  });
});

describe('audit', () => {
  test('write and recent: newest first, filtered by action and by user (actor or target)', async () => {
    const [actor, target] = [await newUser(), await newUser()];
    const action = `test.${uid()}`;
    await store.audit.write({ api: 'auth-v3', action, actorUserId: actor.id, targetUserId: target.id, ip: '10.0.0.1', detail: { how: 'loginOther', n: 1 } });
    await store.audit.write({ action, targetUserId: target.id });
    await store.audit.write({ action: `${action}.other`, actorUserId: actor.id });

    const mine = await store.audit.recent({ action });
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ api: null, action, actorUserId: null, targetUserId: target.id, ip: null, detail: null });
    expect(mine[1]).toMatchObject({ api: 'auth-v3', action, actorUserId: actor.id, targetUserId: target.id, ip: '10.0.0.1', detail: { how: 'loginOther', n: 1 } });
    expect(mine[0]!.at).toBeInstanceOf(Date);
    expect(Number(mine[0]!.id)).toBeGreaterThan(Number(mine[1]!.id));

    expect((await store.audit.recent({ userId: actor.id })).map((e) => e.action)).toEqual([`${action}.other`, action]);
    expect((await store.audit.recent({ userId: target.id })).map((e) => e.actorUserId)).toEqual([null, actor.id]);
    expect(await store.audit.recent({ userId: actor.id, limit: 1 })).toHaveLength(1);
  });
});
