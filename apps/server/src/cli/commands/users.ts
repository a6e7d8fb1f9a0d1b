import { Argument, Option, type Command } from 'commander';
import { IdentifierTakenError, roles, type Role, type User } from '@polyauth/store';
import { checkPasswordPolicy, PasswordPolicyError } from '../../identity/passwords.ts';
import { auditEntry } from '../context.ts';
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
        const password = await newPassword(opts.password);
        try {
          checkPasswordPolicy(password);
        } catch (err) {
          if (err instanceof PasswordPolicyError) throw new CliError(err.message);
          throw err;
        }
        const ctx = await open();
        const passwordHash = await ctx.passwords().hash(password);
        let user: User;
        try {
          user = await ctx.transaction(async (store) => {
            const u = await store.users.create({ username, email, firstName, lastName, role, passwordHash });
            await store.audit.write(auditEntry('user.create', { targetUserId: u.id, detail: { username, role } }));
            return u;
          });
        } catch (err) {
          if (err instanceof IdentifierTakenError) {
            throw new CliError(`that ${err.field} is already taken (usernames and emails share one namespace)`);
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
        const users = (await ctx.store.users.list(limit)).map(listed);
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
        const { user, from } = await ctx.transaction(async (store) => {
          const target = await resolveUser(store, ref);
          const updated = (await store.users.update(target.id, { role }))!;
          await store.audit.write(auditEntry('user.role_change', { targetUserId: target.id, detail: { from: target.role, to: role } }));
          return { user: updated, from: target.role };
        });
        return {
          json: summary(user),
          text: from === role ? `${user.username} already has the role ${role}.` : `${user.username}: role ${from} → ${role}.`,
        };
      }),
    );

  leaf(group, 'disable <user>', 'disable a user and revoke every token they hold, in every API').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const { user, revokedTokens } = await ctx.transaction(async (store) => {
        const target = await resolveUser(store, args[0]!);
        const updated = (await store.users.update(target.id, { disabled: true }))!;
        const n = await store.tokens.revokeAllForUser(target.id);
        await store.audit.write(auditEntry('user.disable', { targetUserId: target.id, detail: { revokedTokens: n } }));
        return { user: updated, revokedTokens: n };
      });
      return {
        json: { ...summary(user), disabled: true, revokedTokens },
        text: `Disabled ${user.username} (id ${user.id}); revoked ${revokedTokens} token${revokedTokens === 1 ? '' : 's'}.`,
      };
    }),
  );

  leaf(group, 'enable <user>', 'enable a disabled user').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const user = await ctx.transaction(async (store) => {
        const target = await resolveUser(store, args[0]!);
        const updated = (await store.users.update(target.id, { disabled: false }))!;
        await store.audit.write(auditEntry('user.enable', { targetUserId: target.id }));
        return updated;
      });
      return {
        json: { ...summary(user), disabled: false },
        text: `Enabled ${user.username} (id ${user.id}).`,
      };
    }),
  );
}
