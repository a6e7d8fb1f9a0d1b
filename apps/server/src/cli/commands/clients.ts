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
  /** No secret: authenticates by its id alone (`client create --public`). */
  public: c.secretHash === null,
});

function register(program: Command, k: KindInfo): void {
  const group = program.command(k.group).description(`${k.label}s, used by ${k.usedBy}`);

  const create = leaf(group, 'create', `create ${k.a}; its secret is printed once and stored hashed`).requiredOption('--name <name>', `a name for the ${k.label}`);
  if (k.kind === 'oauth') {
    create.option(
      '--public',
      'a public client: no secret (RFC 6749 §2.1). oauth-service accepts it by client_id alone for the refresh and password grants; mts-auth needs a secret, so it cannot be used there',
    );
  }
  create.action(
    action(async ({ opts, open }) => {
      const name = requiredText('--name', opts.name, 200);
      const isPublic = opts.public === true;
      const ctx = await open();
      const { client, secret } = await ctx.clients.create(k.kind, name, { withSecret: !isPublic, caller: cliCaller() });
      if (secret === undefined) {
        return {
          json: { id: client.clientId, secret: null, name: client.name },
          text: [
            `Created public ${k.label} "${client.name}".`,
            `  id:     ${client.clientId}`,
            '  secret: none (a public client authenticates by its id alone)',
          ].join('\n'),
        };
      }
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
          clients.map((c) => [c.id, c.name, c.createdAt, (c.revoked ? 'revoked' : 'active') + (c.public ? ', public' : '')]),
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
