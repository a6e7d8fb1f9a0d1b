// A throw-away pgbouncer in transaction mode in front of a Postgres server,
// for scripts/scale-out.mjs and the bench: its own free port, config in a
// temp dir, auth_type trust (the users it lets through still have to be
// named in its auth_file), run as an unprivileged user when we are root
// (pgbouncer refuses to run as root).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, onCleanup } from './server-process.mjs';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

/** The pgbouncer binary, or undefined. */
export function findPgbouncer() {
  for (const p of CANDIDATES) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}

function waitForPort(port, timeoutMs) {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve();
      });
      s.on('error', () => {
        if (Date.now() > until) reject(new Error(`pgbouncer did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Starts pgbouncer (pool_mode=transaction) in front of `postgresUrl`'s host
 * and port. Resolves { port, urlFor(database), console(command), stop() };
 * `console` runs one command on pgbouncer's admin console (DISABLE, KILL,
 * ENABLE, RESUME …).
 */
export async function startPgbouncer({ postgresUrl, poolSize = 10 }) {
  const bin = findPgbouncer();
  if (!bin) throw new Error('pgbouncer is not installed');
  const target = new URL(postgresUrl);
  const user = decodeURIComponent(target.username || 'postgres');
  const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'userlist.txt');
  writeFileSync(users, `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits,options',
      // retry a failed server login after 1 s, not 15 (DESIGN.md, Deployment)
      'server_login_retry = 1',
      `admin_users = ${user}`,
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const args = process.getuid?.() === 0 ? ['-u', 'nobody', ini] : [ini];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let exited = false;
  const exit = new Promise((resolve) => child.on('exit', () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onCleanup(stop);
  try {
    await Promise.race([
      waitForPort(port, 10_000),
      exit.then(() => {
        throw new Error(`pgbouncer exited at once:\n${stderr}`);
      }),
    ]);
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }
  /** postgresUrl with its host and port replaced by pgbouncer's and its database by `database`. */
  const urlFor = (database) => {
    const u = new URL(postgresUrl);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    u.pathname = `/${database}`;
    return u.toString();
  };
  return {
    port,
    pid: child.pid,
    urlFor,
    async console(command) {
      // the admin console is pgbouncer's database named pgbouncer
      const c = new pg.Client({ connectionString: urlFor('pgbouncer'), connectionTimeoutMillis: 3000 });
      await c.connect();
      try {
        // the admin console speaks the simple query protocol only
        return (await c.query(command)).rows;
      } finally {
        await c.end();
      }
    },
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
