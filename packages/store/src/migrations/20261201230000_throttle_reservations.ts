import type { Knex } from 'knex';

/**
 * A sign-in is counted before its password is compared: `pending` is the
 * number of attempts reserved against a counter and not yet settled (their
 * password is being compared), `reserved_at` the time of the newest of them.
 * Reservations older than the repo's stale bound are taken for attempts whose
 * server died before settling them, and no longer hold the budget.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('throttle', (t) => {
    t.integer('pending').notNullable().defaultTo(0);
    t.timestamp('reserved_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('throttle', (t) => {
    t.dropColumn('reserved_at');
    t.dropColumn('pending');
  });
}
