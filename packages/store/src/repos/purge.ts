import type { Knex } from 'knex';

/** What one purge run deleted, per table. */
export interface PurgeCounts {
  tokens: number;
  oneTimeTokens: number;
  throttle: number;
}

export interface PurgePolicy {
  /** Rows deleted per statement; each statement is its own short transaction. */
  batchSize: number;
  /** Tokens and one-time tokens are deleted this long after they expired, were revoked or were used, seconds. */
  retentionSeconds: number;
  /** Throttle counters are deleted once unlocked and idle for this long, seconds (at least their longest window). */
  throttleIdleSeconds: number;
}

/**
 * The advisory lock that makes one purge batch run on one server at a time,
 * whatever the number of instances on the database. Transaction-scoped
 * (`pg_try_advisory_xact_lock`): released by the batch's COMMIT, so it
 * never outlives its transaction on a pooled connection, and works the same
 * behind a transaction-mode pooler and on the embedded PGlite.
 */
export const PURGE_LOCK_KEY = 0x706f6c79_7075_7267n.toString(); // "polypurg"

type Table = keyof PurgeCounts;

/** One bounded DELETE per table; `:n` rows at most, `:retention`/`:idle` in seconds. */
const BATCH_SQL: Record<Table, string> = {
  // A dead token whose child is still live stays: deleting it would cascade
  // to the child (tokens.parent_id ... on delete cascade).
  tokens: `
    delete from tokens where id in (
      select t.id from tokens t
       where (t.expires_at < now() - make_interval(secs => cast(:retention as float8))
           or t.revoked_at < now() - make_interval(secs => cast(:retention as float8)))
         and not exists (
           select 1 from tokens c
            where c.parent_id = t.id
              and not coalesce(c.expires_at < now() - make_interval(secs => cast(:retention as float8)), false)
              and not coalesce(c.revoked_at < now() - make_interval(secs => cast(:retention as float8)), false))
       limit cast(:n as int)
       for update skip locked)`,
  oneTimeTokens: `
    delete from one_time_tokens where id in (
      select id from one_time_tokens
       where expires_at < now() - make_interval(secs => cast(:retention as float8))
          or consumed_at < now() - make_interval(secs => cast(:retention as float8))
       limit cast(:n as int)
       for update skip locked)`,
  // A counter whose window is over and whose lock has ended counts nothing any
  // more; after `:idle` it has also outlived its escalation memory (lockouts).
  throttle: `
    delete from throttle where key in (
      select key from throttle
       where window_start < now() - make_interval(secs => cast(:idle as float8))
         and (locked_until is null or locked_until < now() - make_interval(secs => cast(:idle as float8)))
         -- never a counter holding attempts still being compared (throttle.reserve)
         and (reserved_at is null or reserved_at < now() - make_interval(secs => cast(:idle as float8)))
       limit cast(:n as int)
       for update skip locked)`,
};

export function purgeRepo(db: Knex) {
  return {
    /**
     * Deletes up to `batchSize` dead rows of one table in a transaction that
     * first takes the purge lock. Returns the number deleted, or undefined
     * when another server holds the lock (it is purging: this one skips).
     */
    async batch(table: Table, p: PurgePolicy): Promise<number | undefined> {
      return db.transaction(async (trx) => {
        const lock = await trx.raw('select pg_try_advisory_xact_lock(cast(? as bigint)) as ok', [PURGE_LOCK_KEY]);
        if (!(lock.rows as Array<{ ok: boolean }>)[0]?.ok) return undefined;
        const result = await trx.raw(`with gone as (${BATCH_SQL[table]} returning 1) select count(*) as n from gone`, {
          n: p.batchSize,
          retention: p.retentionSeconds,
          idle: p.throttleIdleSeconds,
        });
        return Number((result.rows as Array<{ n: unknown }>)[0]?.n ?? 0);
      });
    },

    /**
     * Every table in turn, batch after batch until a batch comes back short
     * (or `maxBatches` per table). `busy` when another server held the lock.
     */
    async run(p: PurgePolicy & { maxBatches?: number }): Promise<PurgeCounts & { busy: boolean }> {
      const counts: PurgeCounts = { tokens: 0, oneTimeTokens: 0, throttle: 0 };
      const maxBatches = p.maxBatches ?? 1000;
      for (const table of Object.keys(BATCH_SQL) as Table[]) {
        for (let i = 0; i < maxBatches; i++) {
          const n = await this.batch(table, p);
          if (n === undefined) return { ...counts, busy: true };
          counts[table] += n;
          if (n < p.batchSize) break;
        }
      }
      return { ...counts, busy: false };
    },
  };
}

export type PurgeRepo = ReturnType<typeof purgeRepo>;
