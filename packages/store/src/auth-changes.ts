import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgTypes } from './pg-types.ts';
import { AUTH_CHANGED_CHANNEL } from './migrations/20261123190000_auth_change_notify.ts';

export { AUTH_CHANGED_CHANNEL };

/** What a cache of token liveness hears from the database. */
export interface AuthChangeListener {
  /** A committed change ended (or may have ended) the life of tokens of this user; '*' = of anyone. */
  changed(userId: string): void;
  /** Delivery of every change became guaranteed (true) or stopped being so (false). */
  live(on: boolean): void;
}

/** A change of the feed's state, with why (for one log line per change). */
export type FeedStateListener = (on: boolean, reason: string) => void;

/**
 * The database's NOTIFY polyauth_auth_changed (sent by triggers on tokens and
 * users, see the migration) fanned out to in-process listeners. `live` is true
 * only while no committed change can be missed: a listener must not trust
 * what it cached while it is false.
 */
export class AuthChanges {
  readonly #listeners = new Set<AuthChangeListener>();
  readonly #watchers = new Set<FeedStateListener>();
  #live = false;
  #known = false;
  #onFirstSubscribe: (() => void) | undefined;
  readonly #open: () => boolean;
  #barrier: (() => Promise<void>) | undefined;

  /**
   * @param opts.onFirstSubscribe starts listening (lazily: a CLI run never needs it)
   * @param opts.open false once the database was closed under us
   */
  constructor(opts: { onFirstSubscribe?: () => void; open?: () => boolean } = {}) {
    this.#onFirstSubscribe = opts.onFirstSubscribe;
    this.#open = opts.open ?? (() => true);
  }

  get live(): boolean {
    return this.#live && this.#open();
  }

  subscribe(listener: AuthChangeListener): () => void {
    this.#listeners.add(listener);
    const start = this.#onFirstSubscribe;
    this.#onFirstSubscribe = undefined;
    start?.();
    return () => this.#listeners.delete(listener);
  }

  /** Hears every change of `live`, with the reason (does not start the feed). */
  watch(fn: FeedStateListener): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  /**
   * Resolves once every change committed before the call has reached the
   * listeners (or the feed is not live, so nothing is served from memory).
   * Called after each write through a pool whose connections do not LISTEN
   * themselves (see syncAfterWrites), so a server's own revocation is heard
   * before it answers.
   */
  sync(): Promise<void> {
    return this.#barrier && this.live ? this.#barrier() : Promise.resolve();
  }

  /** @internal a notification's payload. */
  emit(payload: string | undefined): void {
    const userId = payload || '*';
    for (const l of this.#listeners) l.changed(userId);
  }

  /** @internal */
  setLive(on: boolean, reason = on ? 'listening' : 'stopped'): void {
    if (on === this.#live && this.#known) return;
    this.#known = true; // the first verdict is reported too (a feed that never worked)
    this.#live = on;
    for (const l of this.#listeners) l.live(on);
    for (const w of this.#watchers) w(on, reason);
  }

  /** @internal the listener's barrier (undefined: none). */
  setBarrier(barrier: (() => Promise<void>) | undefined): void {
    this.#barrier = barrier;
  }
}

const LISTEN = `LISTEN ${AUTH_CHANGED_CHANNEL}`;

/** Makes a pg connection deliver the channel's notifications to `changes`. */
export function listenOn(client: pg.Client, changes: AuthChanges, done: (err: Error | null) => void): void {
  client.on('notification', (n) => {
    if (n.channel === AUTH_CHANGED_CHANNEL) changes.emit(n.payload);
  });
  client.query(LISTEN).then(
    () => done(null),
    (err: Error) => done(err),
  );
}

/** Statements that may fire a notifying trigger (a SELECT never does in polyauth's store). */
const MAY_NOTIFY = /^\s*(insert|update|delete|truncate|merge|with|call|do|copy|notify)\b/i;
const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
const COMMIT = /^\s*(commit|end)\b/i;
const ROLLBACK = /^\s*rollback\s*;?\s*$/i;

type Callback = (err: Error | null, result: unknown) => void;

/**
 * Makes a pooled connection (which does not LISTEN: through a transaction
 * pooler a LISTEN would stay on a server connection other clients get)
 * hold back the result of each committed write until `changes.sync()`:
 * the change is then known to this process's caches before the caller,
 * and so the client, hears that it is done. Only statements that may fire
 * a trigger, and COMMITs of transactions that ran one, wait.
 */
export function syncAfterWrites(client: pg.Client, changes: AuthChanges): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let inTransaction = false;
  let dirty = false;
  (client as { query: unknown }).query = (...args: unknown[]): unknown => {
    const first = args[0];
    const text = typeof first === 'string' ? first : typeof (first as { text?: unknown })?.text === 'string' ? (first as { text: string }).text : '';
    let wait = false;
    if (BEGIN.test(text)) {
      inTransaction = true;
      dirty = false;
    } else if (COMMIT.test(text)) {
      wait = dirty;
      inTransaction = false;
      dirty = false;
    } else if (ROLLBACK.test(text)) {
      inTransaction = false;
      dirty = false;
    } else if (MAY_NOTIFY.test(text)) {
      if (inTransaction) dirty = true;
      else wait = true;
    }
    if (!wait) return query(...args);
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      const cb = last as Callback;
      return query(...args.slice(0, -1), (err: Error | null, result: unknown) => {
        if (err) return cb(err, result);
        changes.sync().then(
          () => cb(null, result),
          () => cb(null, result),
        );
      });
    }
    const result = query(...args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      return (result as Promise<unknown>).then(async (r) => {
        await changes.sync().catch(() => undefined);
        return r;
      });
    }
    return result;
  };
}

export interface ListenerOptions {
  /** The direct (session-mode) connection to LISTEN on. */
  url: string;
  /**
   * Sends a NOTIFY the way writes go (through the pool, so through any
   * pooler in front); the listener must hear it to count as live.
   */
  probe: (channel: string, payload: string) => Promise<unknown>;
  /** Time between round trips. */
  probeEveryMs?: number;
  /** A round trip (or a sync barrier) not heard within this is a lost feed: the connection is made again. */
  probeTimeoutMs?: number;
  /**
   * The caches are trusted only while a round trip sent at most this long
   * ago has been heard: a listening connection that stalls without failing
   * turns them off within this (a change committed meanwhile may not have
   * been heard).
   */
  leaseMs?: number;
  maxBackoffMs?: number;
  /**
   * Wait before trying again when a LISTEN was accepted but its first round
   * trip was never heard: what a transaction pooler does (each LISTEN would
   * be left on one of its server connections).
   */
  deafBackoffMs?: number;
  /** Added to the reason of that case (what the operator should set). */
  deafHint?: string;
  /** Called when that case is seen: the pool goes through a transaction pooler. */
  onDeaf?: () => void;
}

/**
 * One dedicated connection that LISTENs for changes committed by any process
 * (this one, other server instances, the admin CLI). Liveness is proved by a
 * round trip, not by a `select 1`: a NOTIFY on a channel of this process's
 * own, sent through the pool, must be heard on the listening connection
 * within probeTimeoutMs, at start and every probeEveryMs. A LISTEN through a
 * transaction pooler succeeds but hears nothing; a stalled backend answers
 * nothing: either fails the round trip, the feed is lost (caches off, every
 * check goes to the database), the connection is dropped and made again
 * with backoff, and the caches start over empty once a round trip succeeds.
 */
export function startDedicatedListener(changes: AuthChanges, opts: ListenerOptions): { stop(): Promise<void>; databaseBack(): void } {
  const probeEveryMs = opts.probeEveryMs ?? 250;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 2_000;
  const leaseMs = opts.leaseMs ?? 1_000;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  let deafWait = opts.deafBackoffMs ?? 30_000;
  /** Waiting out a pooler's wait: the database coming back does not cut it short. */
  let deafPending = false;
  // one channel per process: only this listener hears its probes
  const channel = `polyauth_probe_${process.pid}_${randomBytes(6).toString('hex')}`;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  let backoff = 100;
  let seq = 0;
  const waiters = new Map<string, () => void>();

  const schedule = (fn: () => void, ms: number) => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(fn, ms);
    timer.unref();
  };

  const down = (c: pg.Client, reason: string) => {
    if (c !== client) return;
    client = undefined;
    clearTimeout(leaseTimer);
    changes.setLive(false, reason);
    c.removeAllListeners('notification');
    c.on('error', () => undefined); // a late socket error on a dropped client
    c.end().catch(() => undefined);
    schedule(connect, backoff);
    backoff = Math.min(backoff * 2, maxBackoff);
  };

  /** Sends via `send` a payload on the probe channel; resolves true when heard in time. */
  const roundTrip = (send: (payload: string) => Promise<unknown>): Promise<true | string> => {
    const payload = String((seq += 1));
    return new Promise((resolve) => {
      let sent = false;
      const t = setTimeout(() => {
        waiters.delete(payload);
        // not sent yet: the pool had no connection for it (the database or
        // the pooler is away), which says nothing about the listener
        resolve(
          sent
            ? `a NOTIFY sent to itself was not heard within ${probeTimeoutMs} ms`
            : `the round trip NOTIFY could not be sent within ${probeTimeoutMs} ms`,
        );
      }, probeTimeoutMs);
      waiters.set(payload, () => {
        clearTimeout(t);
        waiters.delete(payload);
        resolve(true);
      });
      send(payload).then(
        () => {
          sent = true;
        },
        (err: Error) => {
          clearTimeout(t);
          waiters.delete(payload);
          resolve(`the round trip NOTIFY failed: ${err.message}`);
        },
      );
    });
  };

  /**
   * The caches are trusted until `sentAt + leaseMs` (performance.now() ms):
   * what was committed before the round trip sent at `sentAt` has been
   * heard. A later round trip heard in time extends it; none heard turns the
   * caches off (the connection is kept: a late round trip turns them on
   * again, one never heard within probeTimeoutMs drops the connection).
   * Returns what is left of it, ms (0 or less: none).
   */
  const lease = (c: pg.Client, sentAt: number): number => {
    const left = sentAt + leaseMs - performance.now();
    if (left <= 0) return left;
    clearTimeout(leaseTimer);
    changes.setLive(true, 'a NOTIFY sent to itself was heard');
    leaseTimer = setTimeout(() => {
      if (c === client) changes.setLive(false, `no NOTIFY sent to itself in the last ${leaseMs} ms has been heard yet`);
    }, left);
    leaseTimer.unref();
    return left;
  };

  /** A round trip now, and the next in probeEveryMs when heard; one never heard is a lost feed. */
  const probe = (c: pg.Client, first: boolean) => {
    const sentAt = performance.now();
    void roundTrip((p) => opts.probe(channel, p)).then((ok) => {
      if (c !== client) return;
      if (ok !== true) {
        // LISTEN accepted, yet its first round trip never heard: a transaction
        // pooler; trying again at once would leave more LISTENs on its connections
        const deaf = first && ok.startsWith('a NOTIFY sent to itself was not heard');
        if (deaf) {
          // each try leaves a LISTEN on one of the pooler's connections: the
          // wait doubles with each (30 s, 1 min, 2 min … at most an hour)
          backoff = Math.max(backoff, deafWait);
          deafWait = Math.min(deafWait * 2, 3_600_000);
          deafPending = true;
          opts.onDeaf?.();
        }
        return down(c, deaf && opts.deafHint ? `${ok} (${opts.deafHint})` : ok);
      }
      backoff = 100;
      // a slow round trip leaves little of its lease: the next one soon
      const left = lease(c, sentAt);
      schedule(() => {
        if (c === client) probe(c, false);
      }, Math.max(0, Math.min(probeEveryMs, left / 2)));
    });
  };

  // Barriers on the listening connection itself: Postgres delivers
  // notifications in commit order and a session's own before its statement
  // returns, so once this one is heard every change committed before it was.
  // One statement at a time on that connection (pg queues a second one and
  // pg 9 will refuse it): a barrier asked for while one is on the wire
  // shares the next, which starts once the wire is free (the round trip is
  // heard before its statement completes, so "free" waits for both).
  let onWire: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const barrier = (): Promise<void> => {
    if (!client) return Promise.resolve();
    next ??= (onWire ?? new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
      next = undefined;
      const c = client;
      if (!c) return;
      let sent: Promise<unknown> = Promise.resolve();
      const heard = roundTrip((p) => (sent = c.query('select pg_notify($1, $2)', [channel, p])));
      const wire: Promise<void> = Promise.allSettled([heard, sent]).then(() => {
        if (onWire === wire) onWire = undefined;
      });
      onWire = wire;
      return heard.then((ok) => {
        if (ok !== true) down(c, ok);
      });
    });
    return next;
  };

  const connect = () => {
    if (stopped) return;
    deafPending = false;
    const c = new pg.Client({
      connectionString: opts.url,
      connectionTimeoutMillis: 3000,
      query_timeout: 3000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      application_name: 'polyauth-auth-changes',
      types: pgTypes,
    });
    client = c;
    c.on('error', (err) => down(c, `the listening connection failed: ${err.message}`));
    c.on('end', () => down(c, 'the listening connection ended'));
    c.on('notification', (n) => {
      if (n.channel === channel) waiters.get(n.payload ?? '')?.();
    });
    c.connect()
      .then(
        () =>
          new Promise<void>((resolve, reject) => {
            if (c !== client) return resolve();
            listenOn(c, changes, (err) => (err ? reject(err) : resolve()));
          }),
      )
      .then(() => c.query(`LISTEN "${channel}"`))
      .then(
        () => {
          if (c !== client || stopped) return;
          probe(c, true);
        },
        (err: Error) => down(c, `cannot listen: ${err.message}`),
      );
  };

  changes.setBarrier(barrier);
  connect();
  return {
    /**
     * The pool reached the database again after an outage: a listener
     * waiting out its backoff tries now, so the caches return with the
     * database instead of up to maxBackoffMs later (not after a pooler was
     * found: that wait stands).
     */
    databaseBack() {
      if (stopped || client || deafPending) return;
      backoff = 100;
      schedule(connect, 0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(leaseTimer);
      changes.setBarrier(undefined);
      const c = client;
      client = undefined;
      changes.setLive(false);
      if (c) {
        c.removeAllListeners('end');
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}
