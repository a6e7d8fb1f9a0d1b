import { apiIds } from '@polyauth/api-types';
import { Option, type Command } from 'commander';
import { cliCaller } from '../context.ts';
import { resolveUser } from '../resolve.ts';
import { action, leaf } from '../runner.ts';

/** The api ids tokens are scoped to (tokens.api): redocly.yaml's, generated. */
export const API_IDS = apiIds;

export function registerTokenCommands(program: Command): void {
  const group = program.command('token').description('access, refresh and session tokens of every API');

  leaf(group, 'revoke', "revoke every live token of a user (optionally only one API's)")
    .requiredOption('--user <user>', 'the user: an id, a username or an email')
    .addOption(new Option('--api <api-id>', 'only tokens issued by this API').choices(API_IDS))
    .action(
      action(async ({ opts, open }) => {
        const api = opts.api as string | undefined;
        const ctx = await open();
        const user = await resolveUser(ctx, String(opts.user));
        const revoked = await ctx.accounts.revokeTokens(user, api, cliCaller());
        return {
          json: { revoked },
          text: `Revoked ${revoked} token${revoked === 1 ? '' : 's'} of ${user.username}${api ? ` issued by ${api}` : ''}.`,
        };
      }),
    );
}
