import type { Knex } from 'knex';

export interface ThrottlePolicy {
  /** Failures allowed in `windowSeconds` before the key is locked. */
  maxFailures: number;
  windowSeconds: number;
  /** First lockout; each further lockout doubles it, up to `maxLockoutSeconds`. */
  lockoutSeconds: number;
  maxLockoutSeconds: number;
}

/** One counter an attempt is reserved against, with its limits. */
export interface ThrottleCounter {
  key: string;
  policy: ThrottlePolicy;
}

/** `ok`: the attempt may go on (and is counted); otherwise the seconds to wait. */
export type ThrottleReservation = { ok: true } | { ok: false; retryAfter: number };

/** What a reserved attempt turned out to be. */
export type ThrottleOutcome =
  /** Counted as a failed attempt (and may lock the counter). */
  | 'failure'
  /** Forgets the settled failures of `resetKeys`; never a lock or the escalation. */
  | 'success'
  /** Gives the reservation back, nothing more (auth-v3: password right, code still to come). */
  | 'neutral';

/**
 * A reservation whose newest attempt is older than this is taken for one
 * whose server died before settling it: it no longer holds the budget.
 * Far above any password check (bcrypt, queued behind others, takes a second
 * or two under load).
 */
export const RESERVATION_STALE_SECONDS = 120;

/**
 * Retry-After (s) for an attempt refused only because the rest of the budget
 * is held by attempts still being compared: they settle within about a
 * password check, after which a retry meets either a free budget (they
 * succeeded) or the lock their failures took, with its own Retry-After.
 */
export const PENDING_RETRY_AFTER_SECONDS = 1;

/** The escalation (lockouts) is forgotten after a day without a failure or a lock. */
const ESCALATION_MEMORY = `interval '1 day'`;

export interface HitResult {
  /** Seconds the key is locked for (0 = not locked). */
  lockedFor: number;
  /** True when this very hit took the lock; false when the key was locked already (and the hit not counted). */
  lockedNow: boolean;
}

/** SQL for the lock length of the next lockout of row `t` (escalated, capped; the exponent capped so 2^n cannot overflow). */
const lockLength = (escalation: string) =>
  `make_interval(secs => least(cast(:lockout as float8) * power(2, least(${escalation}, 40)), cast(:maxLockout as float8)))`;

/** The escalation level of row `t`, forgotten after a quiet day. */
const ESCALATION = `(case when t.window_start < now() - ${ESCALATION_MEMORY} then 0 else t.lockouts end)`;

/** The failure count of row `t` after one more failure (a new window when the old one is over). */
const NEXT = `(case when t.window_start < now() - make_interval(secs => cast(:window as float8)) then 1 else t.failures + 1 end)`;

const policyParams = (p: ThrottlePolicy) => ({
  max: p.maxFailures,
  window: p.windowSeconds,
  lockout: p.lockoutSeconds,
  maxLockout: p.maxLockoutSeconds,
});

/**
 * One failure counted against `key`, in one atomic upsert: the count, the
 * lock at the limit (exponential backoff) and which hit took it are exact
 * under any concurrency, from any number of server instances. Returns the
 * row's failures after the statement and the lock's seconds.
 */
async function countFailure(db: Knex, key: string, p: ThrottlePolicy, opts: { settle: boolean; whileLocked: 'count' | 'skip' }) {
  // `t.*` in the update are the old values; `failures = 0` after the
  // statement means this very statement locked the key (otherwise it is
  // left at 1 or more: NEXT >= 1).
  const locked = `coalesce(t.locked_until > now(), false)`;
  const locks = `(${NEXT} >= cast(:max as int) and not ${locked})`;
  const first = `1 >= cast(:max as int)`;
  const firstLock = `now() + make_interval(secs => least(cast(:lockout as float8), cast(:maxLockout as float8)))`;
  const result = await db.raw(
    `insert into throttle as t (key, failures, lockouts, window_start, locked_until)
       values (:key, case when ${first} then 0 else 1 end, case when ${first} then 1 else 0 end, now(),
               case when ${first} then ${firstLock} end)
     on conflict (key) do update set
       ${opts.settle ? 'pending = greatest(t.pending - 1, 0),' : ''}
       failures = case when ${locks} then 0 else ${NEXT} end,
       lockouts = case when ${locks} then ${ESCALATION} + 1 else ${ESCALATION} end,
       window_start = case when ${NEXT} = 1 or ${locks} then now() else t.window_start end,
       locked_until = case when ${locks} then now() + ${lockLength(ESCALATION)} else t.locked_until end
       ${opts.whileLocked === 'skip' ? `where not ${locked}` : ''}
     returning failures, ceil(extract(epoch from (locked_until - now()))) as seconds`,
    { key, ...policyParams(p) },
  );
  return (result.rows as Array<{ failures: number; seconds: unknown }>)[0];
}

const lockSeconds = (row: { seconds: unknown }) => Math.max(1, Number(row.seconds));

export function throttleRepo(db: Knex) {
  const repo = {
    /** Seconds until every given key is unlocked; 0 when none is locked. */
    async lockedFor(keys: string[]): Promise<number> {
      if (keys.length === 0) return 0;
      const [row] = await db('throttle')
        .whereIn('key', keys)
        .andWhere('locked_until', '>', db.fn.now())
        .select(db.raw('ceil(extract(epoch from (max(locked_until) - now()))) as seconds'));
      const seconds = Number((row as { seconds: unknown } | undefined)?.seconds ?? 0);
      return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    },

    /**
     * Counts one failure (or one attempt) against `key` unless the key is
     * locked, and, when the count reaches the limit, locks it with
     * exponential backoff: one atomic upsert, so concurrent hits (from any
     * number of server instances) are counted exactly, exactly one of them
     * takes the lock, and none is counted while it holds.
     */
    async hit(key: string, p: ThrottlePolicy): Promise<HitResult> {
      const row = await countFailure(db, key, p, { settle: false, whileLocked: 'skip' });
      if (!row) return { lockedFor: await repo.lockedFor([key]) || 1, lockedNow: false };
      return Number(row.failures) === 0 ? { lockedFor: lockSeconds(row), lockedNow: true } : { lockedFor: 0, lockedNow: false };
    },

    /**
     * Reserves one attempt against every counter, before the attempt's
     * password is compared: all of them or none, atomically (one transaction
     * holding the counters' rows, taken in key order so that two
     * reservations never deadlock). Refused while any counter is locked, or
     * while its failures in the window plus the attempts still being
     * compared reach its limit; a refused attempt is not counted. Settle
     * every reservation that was granted with `settle`.
     */
    async reserve(counters: ThrottleCounter[]): Promise<ThrottleReservation> {
      const byKey = new Map(counters.map((c) => [c.key, c.policy]));
      const keys = [...byKey.keys()].sort();
      if (keys.length === 0) return { ok: true };
      return db.transaction(async (trx) => {
        const { rows } = await trx.raw(
          `insert into throttle as t (key) values ${keys.map(() => '(?)').join(', ')}
           on conflict (key) do update set pending = t.pending
           returning key, failures, lockouts, pending,
             extract(epoch from (now() - window_start)) as age,
             extract(epoch from (locked_until - now())) as locked_for,
             extract(epoch from (now() - reserved_at)) as reserved_age`,
          keys,
        );
        let retryAfter = 0;
        for (const r of rows as Array<Record<string, unknown>>) {
          const p = byKey.get(String(r.key))!;
          const lockedFor = Number(r.locked_for ?? 0);
          if (lockedFor > 0) {
            retryAfter = Math.max(retryAfter, Math.ceil(lockedFor));
            continue;
          }
          const age = Number(r.age);
          const failures = age > p.windowSeconds ? 0 : Number(r.failures);
          const reservedAge = r.reserved_age === null ? Infinity : Number(r.reserved_age);
          const pending = reservedAge > RESERVATION_STALE_SECONDS ? 0 : Number(r.pending);
          if (failures >= p.maxFailures) {
            // spent by settled failures (a lock not taken yet): as long as the lock
            const escalation = age > 86_400 ? 0 : Number(r.lockouts);
            retryAfter = Math.max(retryAfter, Math.ceil(Math.min(p.lockoutSeconds * 2 ** Math.min(escalation, 40), p.maxLockoutSeconds)));
          } else if (failures + pending >= p.maxFailures) {
            // the rest is held by attempts still being compared: ask again once they settle
            retryAfter = Math.max(retryAfter, PENDING_RETRY_AFTER_SECONDS);
          }
        }
        if (retryAfter > 0) return { ok: false, retryAfter };
        await trx.raw(
          `update throttle set
             pending = case when reserved_at is null or reserved_at < now() - make_interval(secs => ?) then 1 else pending + 1 end,
             reserved_at = now()
           where key in (${keys.map(() => '?').join(', ')})`,
          [RESERVATION_STALE_SECONDS, ...keys],
        );
        return { ok: true } as const;
      });
    },

    /**
     * Settles an attempt `reserve` granted. `failure` counts it against every
     * counter (locking one that reaches its limit) and returns the longest
     * lock it took (0 = none); `success` gives the reservation back and
     * forgets the failures already settled on `resetKeys` (never those still
     * being compared, never a lock in force, never the escalation);
     * `neutral` only gives the reservation back.
     */
    async settle(counters: ThrottleCounter[], outcome: ThrottleOutcome, resetKeys: string[] = []): Promise<number> {
      const keys = [...new Set(counters.map((c) => c.key))].sort();
      if (keys.length === 0) return 0;
      if (outcome === 'failure') {
        let locked = 0;
        for (const key of keys) {
          const p = counters.find((c) => c.key === key)!.policy;
          const row = await countFailure(db, key, p, { settle: true, whileLocked: 'count' });
          if (row && Number(row.failures) === 0) locked = Math.max(locked, lockSeconds(row));
        }
        return locked;
      }
      // one row per statement, so this never holds one counter while waiting for another
      for (const key of keys) {
        const reset = outcome === 'success' && resetKeys.includes(key);
        await db.raw(
          `update throttle set pending = greatest(pending - 1, 0)${reset ? ', failures = 0' : ''} where key = ?`,
          [key],
        );
      }
      return 0;
    },

    async clear(key: string): Promise<void> {
      await db('throttle').where({ key }).del();
    },

    /** Drops counters idle for a day (housekeeping). */
    async purge(): Promise<void> {
      await db('throttle')
        .where('window_start', '<', db.raw(`now() - interval '1 day'`))
        .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<', db.fn.now()))
        .andWhere((q) => q.whereNull('reserved_at').orWhere('reserved_at', '<', db.raw(`now() - interval '1 day'`)))
        .del();
    },
  };
  return repo;
}

export type ThrottleRepo = ReturnType<typeof throttleRepo>;
