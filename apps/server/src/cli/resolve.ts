import type { Domain, Store, User } from '@polyauth/store';
import { CliError } from './output.ts';

const ID = /^[1-9][0-9]{0,17}$/;

/**
 * A user by id, username or email. A number is taken as an id first, then
 * as a username (usernames may be digits).
 */
export async function resolveUser(store: Store, ref: string): Promise<User> {
  const value = ref.trim();
  const user =
    (ID.test(value) ? await store.users.byId(value) : undefined) ??
    (value.length > 0 && value.length <= 254 ? await store.users.byIdentifier(value) : undefined);
  if (!user) throw new CliError(`no user "${ref}" (give an id, a username or an email)`);
  return user;
}

/** A domain by id or name (case-insensitive). */
export async function resolveDomain(store: Store, ref: string): Promise<Domain> {
  const value = ref.trim();
  const domain = (ID.test(value) ? await store.domains.byId(value) : undefined) ?? (value ? await store.domains.byName(value) : undefined);
  if (!domain) throw new CliError(`no domain "${ref}" (give an id or a name)`);
  return domain;
}
