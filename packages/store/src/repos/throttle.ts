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
     * Counts one failure (or one attempt) against `key` in a single atomic
     * upsert; locks the key with exponential backoff when the count reaches
     * the limit. Returns the lock's length in seconds, 0 when not locked.
     */
    async hit(key: string, p: ThrottlePolicy): Promise<number> {
      const result = await db.raw(
        `insert into throttle as t (key, failures, lockouts, window_start, locked_until)
           values (?, 1, 0, now(), null)
         on conflict (key) do update set
           failures = case when t.window_start < now() - make_interval(secs => ?) then 1 else t.failures + 1 end,
           window_start = case when t.window_start < now() - make_interval(secs => ?) then now() else t.window_start end
         returning failures, lockouts`,
        [key, p.windowSeconds, p.windowSeconds],
      );
      const row = (result.rows as Array<{ failures: number; lockouts: number }>)[0]!;
      if (Number(row.failures) < p.maxFailures) return 0;
      const seconds = Math.min(p.lockoutSeconds * 2 ** Number(row.lockouts), p.maxLockoutSeconds);
      await db('throttle')
        .where({ key })
        .update({
          failures: 0,
          lockouts: db.raw('lockouts + 1'),
          window_start: db.fn.now(),
          locked_until: db.raw(`now() + make_interval(secs => ?)`, [seconds]),
        });
      return seconds;
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
