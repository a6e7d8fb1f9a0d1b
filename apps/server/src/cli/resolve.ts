import type { Domain, User } from '@polyauth/store';
import type { CliContext } from './context.ts';
import { CliError } from './output.ts';

/**
 * A user by id, username or email. A number is taken as an id first, then
 * as a username (usernames may be digits).
 */
export async function resolveUser(ctx: CliContext, ref: string): Promise<User> {
  const user = await ctx.accounts.find(ref);
  if (!user) throw new CliError(`no user "${ref}" (give an id, a username or an email)`);
  return user;
}

/** A domain by id or name (case-insensitive). */
export async function resolveDomain(ctx: CliContext, ref: string): Promise<Domain> {
  const domain = await ctx.domains.find(ref);
  if (!domain) throw new CliError(`no domain "${ref}" (give an id or a name)`);
  return domain;
}
