import type { Command } from 'commander';
import type { Client, ClientKind } from '@polyauth/store';
import { cliCaller } from '../context.ts';
import { CliError, table } from '../output.ts';
import { action, leaf } from '../runner.ts';
import { requiredText } from '../validate.ts';

interface KindInfo {
  kind: ClientKind;
  /** The command group: `client` or `application`. */
  group: string;
  label: string;
  /** The label with its article. */
  a: string;
  usedBy: string;
}

const KINDS: KindInfo[] = [
  { kind: 'oauth', group: 'client', label: 'OAuth client', a: 'an OAuth client', usedBy: 'mts-auth and oauth-service (HTTP Basic client authentication)' },
  { kind: 'application', group: 'application', label: 'mint application', a: 'a mint application', usedBy: 'mint-auth (`Authorization: Application <id>:<secret>`)' },
];

const listed = (c: Client) => ({
  id: c.clientId,
  name: c.name,
  createdAt: c.createdAt.toISOString(),
  revoked: c.revokedAt !== null,
});

function register(program: Command, k: KindInfo): void {
  const group = program.command(k.group).description(`${k.label}s, used by ${k.usedBy}`);

  leaf(group, 'create', `create ${k.a}; its secret is printed once and stored hashed`)
    .requiredOption('--name <name>', `a name for the ${k.label}`)
    .action(
      action(async ({ opts, open }) => {
        const name = requiredText('--name', opts.name, 200);
        const ctx = await open();
        const created = await ctx.clients.create(k.kind, name, { caller: cliCaller() });
        const { client, secret } = created;
        return {
          json: { id: client.clientId, secret, name: client.name },
          text: [
            `Created ${k.label} "${client.name}".`,
            `  id:     ${client.clientId}`,
            `  secret: ${secret}`,
            '',
            'Store the secret now: it is shown only this once (only its SHA-256 hash is kept).',
          ].join('\n'),
        };
      }),
    );

  leaf(group, 'list', `list ${k.label}s (revoked ones too)`).action(
    action(async ({ open }) => {
      const ctx = await open();
      const clients = (await ctx.clients.list(k.kind)).map(listed);
      return {
        json: clients,
        text: table(
          ['ID', 'NAME', 'CREATED', 'STATUS'],
          clients.map((c) => [c.id, c.name, c.createdAt, c.revoked ? 'revoked' : 'active']),
        ),
      };
    }),
  );

  leaf(group, 'revoke <id>', `revoke ${k.a} and every token issued through it`).action(
    action(async ({ args, open }) => {
      const id = requiredText('<id>', args[0], 128);
      const ctx = await open();
      const revoked = await ctx.clients.revoke(k.kind, id, cliCaller());
      if (!revoked) throw new CliError(`no active ${k.label} with id "${id}"`);
      const { revokedTokens } = revoked;
      return {
        json: { id, revoked: true, revokedTokens },
        text: `Revoked ${k.label} ${id} (and ${revokedTokens} token${revokedTokens === 1 ? '' : 's'} issued through it).`,
      };
    }),
  );
}

export function registerClientCommands(program: Command): void {
  for (const k of KINDS) register(program, k);
}
