import type { Knex } from 'knex';

// The shared identity schema: one user store for all five APIs.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id');
    t.text('username').notNullable();
    t.text('email');
    t.text('first_name').notNullable().defaultTo('');
    t.text('last_name').notNullable().defaultTo('');
    t.text('role').notNullable().defaultTo('LINGUIST');
    t.text('job_title');
    t.text('company');
    t.timestamp('terms_accepted_at', { useTz: true });
    t.timestamp('email_verified_at', { useTz: true });
    t.text('password_hash').notNullable();
    t.text('totp_secret');
    t.bigInteger('totp_last_step');
    t.boolean('disabled').notNullable().defaultTo(false);
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('password_changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table users add constraint users_role_check check (role in ('ADMIN','LINGUIST','PROJECT_MANAGER'))`);

  // Every name a person signs in with (username and email), lower-cased, in one
  // unique column: the database refuses a username equal to someone's email too.
  await knex.schema.createTable('user_identifiers', (t) => {
    t.text('value').primary();
    t.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.unique(['user_id', 'kind']);
  });

  await knex.schema.createTable('domains', (t) => {
    t.bigIncrements('id');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index domains_name_lower on domains (lower(name))');

  await knex.schema.createTable('domain_memberships', (t) => {
    t.bigInteger('domain_id').notNullable().references('id').inTable('domains').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['domain_id', 'user_id']);
    t.index(['user_id']);
  });

  // OAuth clients (mts-auth, oauth-service) and mint applications. Secrets are
  // stored only as SHA-256 hashes of 256-bit random values.
  await knex.schema.createTable('clients', (t) => {
    t.bigIncrements('id');
    t.text('kind').notNullable();
    t.text('client_id').notNullable().unique();
    t.text('secret_hash');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
  });
  await knex.raw(`alter table clients add constraint clients_kind_check check (kind in ('oauth','application'))`);

  // Every token of every API, stored by the SHA-256 of its secret part.
  await knex.schema.createTable('tokens', (t) => {
    t.bigIncrements('id');
    t.text('api').notNullable();
    t.text('kind').notNullable();
    t.text('token_hash').notNullable().unique();
    t.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('client_id').references('id').inTable('clients').onDelete('CASCADE');
    t.bigInteger('parent_id').references('id').inTable('tokens').onDelete('CASCADE');
    t.bigInteger('actor_user_id').references('id').inTable('users').onDelete('SET NULL');
    t.text('note');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.integer('version').notNullable().defaultTo(0);
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.index(['user_id']);
    t.index(['parent_id']);
  });

  // Single-use links and codes: email verification, password reset, authByToken.
  await knex.schema.createTable('one_time_tokens', (t) => {
    t.bigIncrements('id');
    t.text('purpose').notNullable();
    t.text('token_hash').notNullable().unique();
    t.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('consumed_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'purpose']);
  });

  // Failed-attempt counters (per account, per client address, per email...), in
  // the database so that limits hold across server instances.
  await knex.schema.createTable('throttle', (t) => {
    t.text('key').primary();
    t.integer('failures').notNullable().defaultTo(0);
    t.integer('lockouts').notNullable().defaultTo(0);
    t.timestamp('window_start', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('locked_until', { useTz: true });
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('api');
    t.text('action').notNullable();
    t.bigInteger('actor_user_id');
    t.bigInteger('target_user_id');
    t.text('ip');
    t.jsonb('detail');
    t.index(['at']);
    t.index(['target_user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'audit_log',
    'throttle',
    'one_time_tokens',
    'tokens',
    'clients',
    'domain_memberships',
    'domains',
    'user_identifiers',
    'users',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
