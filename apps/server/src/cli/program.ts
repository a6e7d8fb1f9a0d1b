import { Command } from 'commander';
import { registerClientCommands } from './commands/clients.ts';
import { registerDomainCommands } from './commands/domains.ts';
import { registerTokenCommands } from './commands/tokens.ts';
import { registerTotpCommands } from './commands/totp.ts';
import { registerUserCommands } from './commands/users.ts';

/** The `polyauth` admin command tree. Builds nothing but the parser. */
export function buildProgram(): Command {
  const program = new Command('polyauth')
    .description(
      'polyauth administration: clients, applications, users, domains, tokens, TOTP.\n' +
        'Opens the same database as the server (DATABASE_URL, else the embedded store in DATA_DIR).\n' +
        'A <user> is an id, a username or an email. Every change is written to the audit log (actor "admin-cli").',
    )
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  registerClientCommands(program);
  registerUserCommands(program);
  registerDomainCommands(program);
  registerTokenCommands(program);
  registerTotpCommands(program);
  return program;
}
