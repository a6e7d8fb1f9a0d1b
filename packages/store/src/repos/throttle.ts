import type { Knex } from 'knex';

export interface ThrottlePolicy {
  /** Failures allowed in `windowSeconds` before the key is locked. */
  maxFailures: number;
  windowSeconds: number;
  /** First lockout; each further lockout doubles it, up to `maxLockoutSeconds`. */
  lockoutSeconds: number;
  maxLockoutSeconds: number;
}

export function throttleRepo(db: Knex) {
  return {
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
     * Counts one failure (or one attempt) against `key` and, when the count
     * reaches the limit, locks the key with exponential backoff: all in one
     * atomic upsert, so concurrent hits (from any number of server instances)
     * are counted exactly and exactly one of them takes each lock. Returns the
     * lock's length in seconds when this hit locked the key, 0 otherwise.
     */
    async hit(key: string, p: ThrottlePolicy): Promise<number> {
      // `t.*` in the update are the old values; `failures = 0` after the
      // statement means this very hit reached the limit (every other hit
      // leaves it at 1 or more). The exponent is capped so 2^n cannot overflow.
      const next = `(case when t.window_start < now() - make_interval(secs => cast(:window as float8)) then 1 else t.failures + 1 end)`;
      const locks = `${next} >= cast(:max as int)`;
      const first = `1 >= cast(:max as int)`;
      const result = await db.raw(
        `insert into throttle as t (key, failures, lockouts, window_start, locked_until)
           values (:key, case when ${first} then 0 else 1 end, case when ${first} then 1 else 0 end, now(),
                   case when ${first} then now() + make_interval(secs => least(cast(:lockout as float8), cast(:maxLockout as float8))) end)
         on conflict (key) do update set
           failures = case when ${locks} then 0 else ${next} end,
           lockouts = case when ${locks} then t.lockouts + 1 else t.lockouts end,
           window_start = case when ${next} = 1 or ${locks} then now() else t.window_start end,
           locked_until = case when ${locks}
             then now() + make_interval(secs => least(cast(:lockout as float8) * power(2, least(t.lockouts, 40)), cast(:maxLockout as float8)))
             else t.locked_until end
         returning failures, ceil(extract(epoch from (locked_until - now()))) as seconds`,
        { key, max: p.maxFailures, window: p.windowSeconds, lockout: p.lockoutSeconds, maxLockout: p.maxLockoutSeconds },
      );
      const row = (result.rows as Array<{ failures: number; seconds: unknown }>)[0]!;
      return Number(row.failures) === 0 ? Math.max(1, Number(row.seconds)) : 0;
    },

    async clear(key: string): Promise<void> {
      await db('throttle').where({ key }).del();
    },

    /** Drops counters idle for a day (housekeeping). */
    async purge(): Promise<void> {
      await db('throttle')
        .where('window_start', '<', db.raw(`now() - interval '1 day'`))
        .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<', db.fn.now()))
        .del();
    },
  };
}

export type ThrottleRepo = ReturnType<typeof throttleRepo>;
