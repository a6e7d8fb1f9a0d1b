import { userInfo } from 'node:os';
import { AdminOpenError, openAdminServices, type AdminServices } from '../admin-services.ts';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { withDevelopmentTotpKey } from '../dev-secrets.ts';
import type { Caller } from '../identity/caller.ts';
import { CliError } from './output.ts';

/** Recorded as the actor of every change the CLI makes. */
export const ACTOR = 'admin-cli';

export type CliContext = AdminServices;

function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** The CLI as the audit log records it: no actor user, `admin-cli` and the OS user who ran it. */
export function cliCaller(): Caller {
  const by = osUser();
  return { api: ACTOR, admin: true, detail: { actor: ACTOR, ...(by ? { osUser: by } : {}) } };
}

/**
 * Opens the database the server uses (DATABASE_URL, else the embedded PGlite
 * in DATA_DIR under the same lock) and brings its schema up to date.
 */
export async function openContext(env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
  let config: Config;
  try {
    config = withDevelopmentTotpKey(loadConfig(env));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  try {
    return await openAdminServices(config);
  } catch (err) {
    if (err instanceof AdminOpenError) throw new CliError(err.message);
    throw err;
  }
}
