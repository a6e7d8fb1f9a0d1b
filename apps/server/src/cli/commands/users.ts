import { Argument, Option, type Command } from 'commander';
import type { Role, User } from '@polyauth/store';
import { roles } from '../../identity/accounts.ts';
import { IdentityError } from '../../identity/errors.ts';
import { checkPasswordPolicy } from '../../identity/passwords.ts';
import { cliCaller } from '../context.ts';
import { CliError, table } from '../output.ts';
import { newPassword } from '../password-input.ts';
import { resolveUser } from '../resolve.ts';
import { action, leaf } from '../runner.ts';
import { email as checkEmail, optionalText, username as checkUsername } from '../validate.ts';

const summary = (u: User) => ({ id: u.id, username: u.username, email: u.email, role: u.role });

const listed = (u: User) => ({
  ...summary(u),
  firstName: u.firstName,
  lastName: u.lastName,
  disabled: u.disabled,
  totp: u.totpSecret !== null,
  createdAt: u.createdAt.toISOString(),
});

/** The password from the option, the environment or the prompt, checked against the policy. */
async function acceptablePassword(fromOption: unknown): Promise<string> {
  const password = await newPassword(fromOption);
  try {
    checkPasswordPolicy(password);
  } catch (err) {
    if (err instanceof IdentityError) throw new CliError(err.message);
    throw err;
  }
  return password;
}

export function registerUserCommands(program: Command): void {
  const group = program.command('user').description('users of every API (one shared identity)');

  leaf(group, 'create', 'create a user; the password comes from --password, POLYAUTH_PASSWORD, or a prompt')
    .requiredOption('--username <username>', 'the sign-in name')
    .requiredOption('--email <email>', 'the email address (also a sign-in name)')
    .option('--password <password>', 'the password (prefer POLYAUTH_PASSWORD or the prompt: argv is visible to others)')
    .option('--first-name <name>', 'first name')
    .option('--last-name <name>', 'last name')
    .addOption(new Option('--role <role>', 'role').choices(roles).default('LINGUIST'))
    .action(
      action(async ({ opts, open }) => {
        const username = checkUsername(opts.username);
        const email = checkEmail(opts.email);
        const firstName = optionalText('--first-name', opts.firstName, 200) ?? '';
        const lastName = optionalText('--last-name', opts.lastName, 200) ?? '';
        const role = opts.role as Role;
        const password = await acceptablePassword(opts.password);
        const ctx = await open();
        let user: User;
        try {
          user = await ctx.accounts.register({ username, email, firstName, lastName, role, password }, cliCaller());
        } catch (err) {
          if (err instanceof IdentityError && err.problem.kind === 'identifier_taken') {
            throw new CliError(`that ${err.problem.field} is already taken (usernames and emails share one namespace)`);
          }
          throw err;
        }
        return {
          json: summary(user),
          text: `Created user ${user.username} (id ${user.id}, ${user.email}, role ${user.role}).`,
        };
      }),
    );

  leaf(group, 'list', 'list users')
    .option('--limit <n>', 'at most this many users', '1000')
    .action(
      action(async ({ opts, open }) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
          throw new CliError('--limit must be a whole number from 1 to 100000', 2);
        }
        const ctx = await open();
        const users = (await ctx.accounts.list(limit)).map(listed);
        return {
          json: users,
          text: table(
            ['ID', 'USERNAME', 'EMAIL', 'ROLE', 'STATUS', '2FA'],
            users.map((u) => [u.id, u.username, u.email ?? '', u.role, u.disabled ? 'disabled' : 'active', u.totp ? 'totp' : '']),
          ),
        };
      }),
    );

  leaf(group, 'set-role <user>', "change a user's role")
    .addArgument(new Argument('<role>', 'the new role').choices(roles))
    .action(
      action(async ({ args, open }) => {
        const [ref, role] = args as [string, Role];
        const ctx = await open();
        const target = await resolveUser(ctx, ref);
        const user = await ctx.accounts.setRole(target, role, cliCaller());
        const from = target.role;
        return {
          json: summary(user),
          text: from === role ? `${user.username} already has the role ${role}.` : `${user.username}: role ${from} → ${role}.`,
        };
      }),
    );

  leaf(group, 'disable <user>', 'disable a user and revoke every token they hold, in every API').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const target = await resolveUser(ctx, args[0]!);
      const { user, revokedTokens } = await ctx.accounts.setDisabled(target, true, cliCaller());
      return {
        json: { ...summary(user), disabled: true, revokedTokens },
        text: `Disabled ${user.username} (id ${user.id}); revoked ${revokedTokens} token${revokedTokens === 1 ? '' : 's'}.`,
      };
    }),
  );

  leaf(group, 'enable <user>', 'enable a disabled user').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const target = await resolveUser(ctx, args[0]!);
      const { user } = await ctx.accounts.setDisabled(target, false, cliCaller());
      return {
        json: { ...summary(user), disabled: false },
        text: `Enabled ${user.username} (id ${user.id}).`,
      };
    }),
  );

  leaf(group, 'set-password <user>', "set a user's password (--password, POLYAUTH_PASSWORD or a prompt) and revoke all their tokens")
    .option('--password <password>', 'the new password (prefer POLYAUTH_PASSWORD or the prompt)')
    .action(
      action(async ({ args, opts, open }) => {
        const password = await acceptablePassword(opts.password);
        const ctx = await open();
        const target = await resolveUser(ctx, args[0]!);
        const { revokedTokens } = (await ctx.accounts.setPassword(target.id, password, cliCaller()))!;
        return {
          json: { ...summary(target), revokedTokens },
          text: `Set a new password for ${target.username} (id ${target.id}); revoked ${revokedTokens} token${revokedTokens === 1 ? '' : 's'}.`,
        };
      }),
    );
}
