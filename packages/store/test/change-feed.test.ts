// The change feed on Postgres: live only while a NOTIFY sent through the pool
// is heard on the listening connection (a round trip), and a write through
// the pool resolves only once this process's listener has heard it (pooled
// connections do not LISTEN, so they keep no session state for a pooler).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { AUTH_CHANGED_CHANNEL, AuthChanges, openPostgres, startDedicatedListener, type Database } from '../src/index.ts';

const DATABASE_URL = process.env.DATABASE_URL;

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('change feed liveness by round trip (Postgres)', () => {
  if (!DATABASE_URL) {
    const reason = 'NOT RUN: the change feed needs Postgres LISTEN/NOTIFY across connections. Set DATABASE_URL (npm run test:pg; CI sets it).';
    process.stderr.write(`\n[polyauth] change-feed.test.ts: ${reason}\n`);
    test.skip(reason, () => undefined);
    return;
  }
  const name = `polyauth_feed_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const other = `${name}_x`;
  const at = (db: string) => {
    const u = new URL(DATABASE_URL);
    u.pathname = `/${db}`;
    return u.toString();
  };
  let admin: Database;
  beforeAll(async () => {
    admin = await openPostgres({ url: DATABASE_URL, poolMax: 1 });
    await admin.knex.raw(`create database ${name}`);
    await admin.knex.raw(`create database ${other}`);
  });
  afterAll(async () => {
    await admin.knex.raw(`drop database if exists ${name} with (force)`);
    await admin.knex.raw(`drop database if exists ${other} with (force)`);
    await admin.close();
  });

  test('a write through the pool resolves after this process heard it; no LISTEN on pooled connections', async () => {
    const db = await openPostgres({ url: at(name), poolMax: 3 });
    const heard: string[] = [];
    const states: Array<[boolean, string]> = [];
    db.authChanges.watch((on, reason) => states.push([on, reason]));
    db.authChanges.subscribe({ changed: (u) => heard.push(u), live: () => undefined });
    try {
      expect(await until(() => db.authChanges.live, 20_000)).toBe(true);
      expect(states.at(-1)?.[0]).toBe(true);
      for (let i = 0; i < 20; i++) {
        await db.knex.raw(`notify ${AUTH_CHANGED_CHANNEL}, '${1000 + i}'`);
        expect(heard).toContain(String(1000 + i)); // already, not eventually
      }
      // in a transaction: the COMMIT waits
      await db.knex.transaction(async (trx) => {
        await trx.raw(`notify ${AUTH_CHANGED_CHANNEL}, '2000'`);
      });
      expect(heard).toContain('2000');
      // pooled connections hold no LISTEN
      const { rows } = await db.knex.raw('select count(*)::int as n from pg_listening_channels()');
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  });

  test('a burst of parallel writes never puts two statements on one connection at once (the listener\'s barriers included)', async () => {
    // pg queues a statement sent while another runs (deprecated; pg 9 refuses
    // it): count what each client has on the wire, through pg's public query()
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    const onWire = new WeakMap<object, number>();
    let most = 0;
    proto.query = function (this: object, ...args: unknown[]) {
      const n = (onWire.get(this) ?? 0) + 1;
      onWire.set(this, n);
      most = Math.max(most, n);
      const settle = () => onWire.set(this, (onWire.get(this) ?? 1) - 1);
      const last = args.at(-1);
      if (typeof last === 'function') {
        return original.call(this, ...args.slice(0, -1), (...cb: unknown[]) => {
          settle();
          (last as (...a: unknown[]) => void)(...cb);
        });
      }
      const result = original.apply(this, args) as Promise<unknown>;
      void Promise.resolve(result).then(settle, settle);
      return result;
    };
    const db = await openPostgres({ url: at(name), poolMax: 8 });
    const heard = new Set<string>();
    db.authChanges.subscribe({ changed: (u) => heard.add(u), live: () => undefined });
    try {
      expect(await until(() => db.authChanges.live, 20_000)).toBe(true);
      most = 0;
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 120 }, (_, i) => db.knex.raw(`notify ${AUTH_CHANGED_CHANNEL}, '${round * 1000 + i}'`)));
      }
      expect(heard.size).toBeGreaterThanOrEqual(360); // every write heard before it resolved
      expect(most).toBe(1);
      expect(db.authChanges.live).toBe(true);
    } finally {
      proto.query = original;
      await db.close();
    }
  });

  test('a listener that stops hearing without failing (a stalled backend) turns the caches off by its lease, before its connection is dropped', async () => {
    const changes = new AuthChanges();
    const states: Array<[boolean, string]> = [];
    changes.watch((on, reason) => states.push([on, reason]));
    const sender = new pg.Client({ connectionString: at(name) });
    await sender.connect();
    let deaf = false;
    const listener = startDedicatedListener(changes, {
      url: at(name),
      // while deaf, the round trips go where the listener does not listen: what it hears of a stalled backend
      probe: (channel, payload) => sender.query('select pg_notify($1, $2)', [deaf ? `${channel}_elsewhere` : channel, payload]),
      probeEveryMs: 250,
      leaseMs: 1000,
      probeTimeoutMs: 4000,
    });
    try {
      expect(await until(() => changes.live, 20_000)).toBe(true);
      deaf = true;
      expect(await until(() => !changes.live, 3_000)).toBe(true);
      // off by the lease (no round trip sent in the last second heard), not by the drop after 4 s
      expect(states.at(-1)![1]).toMatch(/in the last 1000 ms has been heard/);
      deaf = false;
      // the unheard round trip drops the connection; the next one is live again
      expect(await until(() => changes.live, 20_000)).toBe(true);
      expect(states.map(([on]) => on)).toEqual([true, false, true]);
    } finally {
      await listener.stop();
      await sender.end();
    }
  });

  test('a listener that cannot hear what the pool sends (a LISTEN through a transaction pooler) is never live, and says why once', async () => {
    // the direct URL on ANOTHER database: LISTEN works there, NOTIFYs sent
    // through the pool (on this one) never arrive, like a LISTEN that a
    // transaction pooler parked on some server connection
    const db = await openPostgres({ url: at(name), directUrl: at(other), poolMax: 3 });
    const states: Array<[boolean, string]> = [];
    db.authChanges.watch((on, reason) => states.push([on, reason]));
    db.authChanges.subscribe({ changed: () => undefined, live: () => undefined });
    try {
      expect(await until(() => states.length > 0, 20_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 3_000)); // a few more failed round trips
      expect(db.authChanges.live).toBe(false);
      expect(states.map(([on]) => on)).toEqual([false]); // one line, not one per attempt
      expect(states[0]![1]).toMatch(/not heard within|cannot listen|failed/);
      // writes do not wait for a feed that is not live
      const t0 = performance.now();
      await db.knex.raw(`notify ${AUTH_CHANGED_CHANNEL}, '1'`);
      expect(performance.now() - t0).toBeLessThan(2_000);
    } finally {
      await db.close();
    }
  });
});
