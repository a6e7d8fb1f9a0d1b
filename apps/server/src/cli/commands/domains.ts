import type { Command } from 'commander';
import { DomainNameTakenError, type Domain, type User } from '@polyauth/store';
import { auditEntry } from '../context.ts';
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
          const domain = await ctx.transaction(async (store) => {
            const d = await store.domains.create(name);
            await store.audit.write(auditEntry('domain.create', { detail: { domainId: d.id, name: d.name } }));
            return d;
          });
          return { json: brief(domain), text: `Created domain "${domain.name}" (id ${domain.id}).` };
        } catch (err) {
          if (err instanceof DomainNameTakenError) throw new CliError(err.message);
          throw err;
        }
      }),
    );

  leaf(group, 'list', 'list domains').action(
    action(async ({ open }) => {
      const ctx = await open();
      const domains = (await ctx.store.domains.all()).map((d) => ({ ...brief(d), createdAt: d.createdAt.toISOString() }));
      return {
        json: domains,
        text: table(['ID', 'NAME', 'CREATED'], domains.map((d) => [d.id, d.name, d.createdAt])),
      };
    }),
  );

  leaf(group, 'add-member <domain> <user>', 'add a user to a domain (no-op when already a member)').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const { domain, user, added } = await ctx.transaction(async (store) => {
        const d = await resolveDomain(store, args[0]!);
        const u = await resolveUser(store, args[1]!);
        const already = await store.domains.isMember(d.id, u.id);
        if (!already) {
          await store.domains.addMember(d.id, u.id);
          await store.audit.write(auditEntry('domain.member_add', { targetUserId: u.id, detail: { domainId: d.id, domain: d.name } }));
        }
        return { domain: d, user: u, added: !already };
      });
      return {
        json: { domain: brief(domain), user: member(user), added },
        text: added ? `Added ${user.username} to domain "${domain.name}".` : `${user.username} was already a member of "${domain.name}".`,
      };
    }),
  );

  leaf(group, 'remove-member <domain> <user>', 'remove a user from a domain (no-op when not a member)').action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const { domain, user, removed } = await ctx.transaction(async (store) => {
        const d = await resolveDomain(store, args[0]!);
        const u = await resolveUser(store, args[1]!);
        const gone = await store.domains.removeMember(d.id, u.id);
        if (gone) {
          await store.audit.write(auditEntry('domain.member_remove', { targetUserId: u.id, detail: { domainId: d.id, domain: d.name } }));
        }
        return { domain: d, user: u, removed: gone };
      });
      return {
        json: { domain: brief(domain), user: member(user), removed },
        text: removed ? `Removed ${user.username} from domain "${domain.name}".` : `${user.username} was not a member of "${domain.name}".`,
      };
    }),
  );
}
