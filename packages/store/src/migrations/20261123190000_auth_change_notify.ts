import type { Knex } from 'knex';

/**
 * Every committed change that can end a token's life (revoked, disabled,
 * expiry moved, deleted, its user disabled, deleted or given a new password)
 * or change what a server caches about a user (any users column but
 * last_login_at/updated_at, domain memberships) sends NOTIFY
 * polyauth_auth_changed with the user id as payload ('*' for a TRUNCATE). Servers keep a short-lived cache of live token rows and drop a
 * user's entries on the notification, so revocation stays immediate whoever
 * writes: any server, the admin CLI, or SQL typed by hand. Postgres sends a
 * notification only at commit, and to the committing session before its
 * COMMIT returns. lastUsedAt writes (a coalesced touch) do not notify.
 */
export const AUTH_CHANGED_CHANNEL = 'polyauth_auth_changed';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function polyauth_notify_token_changed() returns trigger language plpgsql as $$
    begin
      if tg_op = 'TRUNCATE' then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', '*');
        return null;
      end if;
      if tg_op in ('UPDATE', 'DELETE') then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', old.user_id::text);
      end if;
      if tg_op = 'UPDATE' and new.user_id is distinct from old.user_id then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', new.user_id::text);
      end if;
      return null;
    end $$`);
  await knex.raw(`
    create trigger tokens_auth_changed
    after update of api, kind, token_hash, user_id, client_id, parent_id, actor_user_id, note, enabled, version, expires_at, revoked_at
    or delete on tokens
    for each row execute function polyauth_notify_token_changed()`);
  await knex.raw(`
    create trigger tokens_auth_truncated after truncate on tokens
    for each statement execute function polyauth_notify_token_changed()`);

  await knex.raw(`
    create function polyauth_notify_user_changed() returns trigger language plpgsql as $$
    begin
      if tg_op = 'TRUNCATE' then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', '*');
      else
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', old.id::text);
      end if;
      return null;
    end $$`);
  // Any change of what a server may cache about a user (names, email, role,
  // username, disabled, password, TOTP...), but not a login's last_login_at
  // or updated_at alone: those change on every sign-in and would empty the
  // caches each time. Compared as the whole row minus those two columns, so
  // a column added later notifies without touching this trigger.
  await knex.raw(`
    create trigger users_auth_changed
    after update on users
    for each row
    when ((to_jsonb(old) - '{last_login_at,updated_at}'::text[]) is distinct from (to_jsonb(new) - '{last_login_at,updated_at}'::text[]))
    execute function polyauth_notify_user_changed()`);
  await knex.raw(`
    create trigger users_auth_deleted after delete on users
    for each row execute function polyauth_notify_user_changed()`);
  await knex.raw(`
    create trigger users_auth_truncated after truncate on users
    for each statement execute function polyauth_notify_user_changed()`);

  // Whether a user belongs to a domain (mts-auth's activeDomains) is cached
  // too: a membership added, removed or moved notifies its user(s); deleting
  // a domain or a user removes memberships by cascade, which fires these too.
  await knex.raw(`
    create function polyauth_notify_membership_changed() returns trigger language plpgsql as $$
    begin
      if tg_op = 'TRUNCATE' then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', '*');
        return null;
      end if;
      if tg_op in ('UPDATE', 'DELETE') then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', old.user_id::text);
      end if;
      if tg_op = 'INSERT' or (tg_op = 'UPDATE' and new.user_id is distinct from old.user_id) then
        perform pg_notify('${AUTH_CHANGED_CHANNEL}', new.user_id::text);
      end if;
      return null;
    end $$`);
  await knex.raw(`
    create trigger domain_memberships_auth_changed
    after insert or update or delete on domain_memberships
    for each row execute function polyauth_notify_membership_changed()`);
  await knex.raw(`
    create trigger domain_memberships_auth_truncated after truncate on domain_memberships
    for each statement execute function polyauth_notify_membership_changed()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists domain_memberships_auth_truncated on domain_memberships');
  await knex.raw('drop trigger if exists domain_memberships_auth_changed on domain_memberships');
  await knex.raw('drop function if exists polyauth_notify_membership_changed()');
  await knex.raw('drop trigger if exists users_auth_truncated on users');
  await knex.raw('drop trigger if exists users_auth_deleted on users');
  await knex.raw('drop trigger if exists users_auth_changed on users');
  await knex.raw('drop function if exists polyauth_notify_user_changed()');
  await knex.raw('drop trigger if exists tokens_auth_truncated on tokens');
  await knex.raw('drop trigger if exists tokens_auth_changed on tokens');
  await knex.raw('drop function if exists polyauth_notify_token_changed()');
}
