import type { Knex } from 'knex';
import { AUTH_CHANGED_CHANNEL } from './20261123190000_auth_change_notify.ts';

/**
 * oauth-service access tokens have no row of their own: a JWT names the
 * refresh-session row it came from and the client it was issued through.
 * Revoking a client must end those tokens at once, and nothing ties them to
 * a user the token trigger would announce, so any change to a client
 * (revoked, secret, kind or id changed, deleted) sends '*' on the auth
 * channel: every server empties its live-token cache, which also holds live
 * clients. Clients change by an administrator's hand, rarely, so emptying
 * the cache costs nothing that matters.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function polyauth_notify_client_changed() returns trigger language plpgsql as $$
    begin
      perform pg_notify('${AUTH_CHANGED_CHANNEL}', '*');
      return null;
    end $$`);
  await knex.raw(`
    create trigger clients_auth_changed
    after update or delete on clients
    for each row execute function polyauth_notify_client_changed()`);
  await knex.raw(`
    create trigger clients_auth_truncated after truncate on clients
    for each statement execute function polyauth_notify_client_changed()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists clients_auth_truncated on clients');
  await knex.raw('drop trigger if exists clients_auth_changed on clients');
  await knex.raw('drop function if exists polyauth_notify_client_changed()');
}
