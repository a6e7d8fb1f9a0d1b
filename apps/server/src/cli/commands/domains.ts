import type { Command } from 'commander';
import type { Domain, User } from '@polyauth/store';
import { IdentityError } from '../../identity/errors.ts';
import { cliCaller } from '../context.ts';
import { CliError, table } from '../output.ts';
import { resolveDomain, resolveUser } from '../resolve.ts';
import { action, leaf } from '../runner.ts';
import { requiredText } from '../validate.ts';

const brief = (d: Domain) => ({ id: d.id, name: d.name });
const member = (u: User) => ({ id: u.id, username: u.username });

export function registerDomainCommands(program: Command): void {
  const group = program.command('domain').description("mts-auth domains (auth-v3's organizations); <domain> is an id or a name");

  leaf(group, 'create', 'create a domain')
    .requiredOption('--name <name>', 'the domain name (unique, case-insensitively)')
    .action(
      action(async ({ opts, open }) => {
        const name = requiredText('--name', opts.name, 200);
        const ctx = await open();
        try {
          const domain = await ctx.domains.create(name, cliCaller());
          return { json: brief(domain), text: `Created domain "${domain.name}" (id ${domain.id}).` };
        } catch (err) {
          if (err instanceof IdentityError && err.problem.kind === 'domain_name_taken') throw new CliError(err.message);
          throw err;
        }
      }),
    );

  leaf(group, 'list', 'list domains').action(
    action(async ({ open }) => {
      const ctx = await open();
      const domains = (await ctx.domains.all()).map((d) => ({ ...brief(d), createdAt: d.createdAt.toISOString() }));
      return {
        json: domains,
        text: table(['ID', 'NAME', 'CREATED'], domains.map((d) => [d.id, d.name, d.createdAt])),
      };
    }),
  );

  leaf(group, 'add-member <domain> <user>', 'add a user to a domain (no-op when already a member)').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const domain = await resolveDomain(ctx, args[0]!);
      const user = await resolveUser(ctx, args[1]!);
      const added = await ctx.domains.addMember(domain, user, cliCaller());
      return {
        json: { domain: brief(domain), user: member(user), added },
        text: added ? `Added ${user.username} to domain "${domain.name}".` : `${user.username} was already a member of "${domain.name}".`,
      };
    }),
  );

  leaf(group, 'remove-member <domain> <user>', 'remove a user from a domain (no-op when not a member)').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const domain = await resolveDomain(ctx, args[0]!);
      const user = await resolveUser(ctx, args[1]!);
      const removed = await ctx.domains.removeMember(domain, user, cliCaller());
      return {
        json: { domain: brief(domain), user: member(user), removed },
        text: removed ? `Removed ${user.username} from domain "${domain.name}".` : `${user.username} was not a member of "${domain.name}".`,
      };
    }),
  );
}
