// Shared by scripts/smoke.mjs and scripts/bench.mjs: a fresh database, the
// admin CLI, and the real server (`node apps/server/src/main.mjs`) in a child
// process, with clean-up that also runs on Ctrl-C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const serverMain = path.join(repoRoot, 'apps/server/src/main.mjs');
/**
 * How `npm start` starts the server, read from package.json's start script
 * (`exec [VAR=value ...] node [flags] apps/server/src/main.mjs`): the
 * environment it adds and the node flags it gives, so that the smoke test and
 * the benches run the server as it is started (see DECISIONS.md, "Where the
 * memory at rest goes").
 */
const serverLaunch = (() => {
  const start = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts.start;
  const m = /(?:^|&& )((?:[A-Z_]+=\S+ )*)exec node((?: --\S+)*) apps\/server\/src\/main\.mjs$/.exec(start);
  if (!m) throw new Error("package.json's start script no longer ends in `exec [VAR=value ...] node [flags] apps/server/src/main.mjs`: see scripts/lib/server-process.mjs");
  const env = Object.fromEntries(m[1].split(' ').filter(Boolean).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  return { env, flags: m[2].split(' ').filter(Boolean) };
})();
/** The node flags `npm start` gives the server. */
export const serverNodeFlags = serverLaunch.flags;
/** The environment `npm start` adds for the server (under whatever the caller gives). */
export const serverNodeEnv = serverLaunch.env;
/** The admin CLI as `npm run admin` runs it (its bin, which turns the compile cache on first). */
export const adminMain = path.join(repoRoot, 'apps/server/bin/polyauth.mjs');

/** The order the APIs are played in (the seeds' order); unknown modules follow alphabetically. */
export const API_ORDER = ['mts-auth', 'mint-auth', 'oauth-service', 'user-token-auth', 'auth-v3'];

/** `dir/<api>.mjs` modules in API_ORDER, each imported. */
export async function loadApiModules(dir) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.mjs') && !f.startsWith('_'));
  const rank = (f) => {
    const i = API_ORDER.indexOf(f.slice(0, -4));
    return i < 0 ? API_ORDER.length : i;
  };
  files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const modules = [];
  for (const f of files) {
    const mod = await import(path.join(dir, f));
    if (typeof mod.api !== 'string') throw new Error(`${path.join(dir, f)} exports no \`api\` id`);
    modules.push(mod);
  }
  return modules;
}

// ---------------------------------------------------------------- clean-up

const cleanups = [];
let cleaning;

/** Registers `fn` to run (last registered first) on exit, failure or Ctrl-C. */
export function onCleanup(fn) {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

export async function runCleanups() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        console.error(`clean-up failed: ${err.message}`);
      }
    }
  })();
  await cleaning;
  cleaning = undefined;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the server and cleaning up…`);
    runCleanups().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- database

export function randomName(prefix) {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh database: a temp DATA_DIR for embedded PGlite, or a uniquely named
 * Postgres database created next to `postgresUrl` and dropped on clean-up.
 * Returns the env for the server and the CLI, and `drop()`.
 */
export async function freshDatabase({ kind, postgresUrl, label }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), `polyauth-${label}-`));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (kind === 'pglite') {
    const drop = async () => removeDir();
    const unregister = onCleanup(drop);
    return { kind, env: { DATA_DIR: dataDir, DATABASE_URL: '' }, drop: async () => (unregister(), drop()) };
  }
  const name = randomName(`polyauth_${label}`);
  await withPostgres(postgresUrl, (c) => c.query(`create database ${name}`));
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    await withPostgres(postgresUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    removeDir();
  };
  const unregister = onCleanup(drop);
  return {
    kind,
    name,
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    drop: async () => (unregister(), drop()),
  };
}

async function withPostgres(url, fn) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- processes

/** A free TCP port on 127.0.0.1 (the kernel's pick; released before use). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The server's environment: production-like, with a generated JWT secret and TOTP encryption key. */
export function serverEnv(extra = {}) {
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    JWT_SECRET: randomBytes(48).toString('base64url'),
    TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...extra,
  };
  for (const [k, v] of Object.entries(env)) if (v === '' || v === undefined) delete env[k];
  return env;
}

/**
 * Like adminRunner, but every command runs in one long-lived child process
 * (scripts/lib/admin-worker.mjs), which saves a node start, the CLI's module
 * loading and PGlite's WASM set-up per command: much faster when a smoke
 * module needs a dozen fixtures. `close()` ends the child; call it before the
 * server starts (the embedded store is free between commands anyway).
 */
export function adminSession(env) {
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/lib/admin-worker.mjs')], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  let exited;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      for (const { reject } of pending.values()) reject(new Error(`the admin worker exited (${code ?? signal})`));
      pending.clear();
      resolve(exited);
    });
  });
  child.on('message', (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    p.settle(msg);
  });
  const close = async () => {
    if (exited) return exited;
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const result = await exit;
    clearTimeout(timer);
    return result;
  };
  const unregister = onCleanup(close);
  const admin = (...args) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error('the admin worker has exited'));
      const id = (nextId += 1);
      const what = `admin ${args.join(' ')}`;
      pending.set(id, {
        reject,
        settle: ({ code, out, err }) => {
          if (code !== 0) return reject(new Error(`${what} exited ${code}: ${(err || out).trim()}`));
          try {
            resolve(JSON.parse(out));
          } catch {
            reject(new Error(`${what} printed no JSON document: ${out.trim().slice(0, 500)}`));
          }
        },
      });
      child.send({ id, args: [...args.map(String), '--json'] });
    });
  return {
    admin,
    close: async () => {
      unregister();
      return close();
    },
  };
}

/** Runs the admin CLI with `--json`; resolves its one JSON document. */
export function adminRunner(env) {
  return (...args) =>
    new Promise((resolve, reject) => {
      // as `npm run admin` runs it (--liftoff-only: see the CLI's main.ts)
      const child = spawn(process.execPath, ['--liftoff-only', adminMain, ...args.map(String), '--json'], {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => {
        const what = `admin ${args.join(' ')}`;
        if (code !== 0) return reject(new Error(`${what} exited ${code}: ${(err || out).trim()}`));
        try {
          resolve(JSON.parse(out));
        } catch {
          reject(new Error(`${what} printed no JSON document: ${out.trim().slice(0, 500)}`));
        }
      });
    });
}

/**
 * Starts `script` (the real server by default, with the flags and the
 * environment `npm start` gives it) in a child process on a free
 * port and waits until `readyPath` answers 200. `stop()` sends SIGTERM (the
 * server's graceful stop), then SIGKILL after 15 s.
 */
export async function startProcess({ env, script = serverMain, args = [], readyPath = '/readyz', name = 'server', timeoutMs = 60_000 }) {
  const port = await freePort();
  const child = spawn(process.execPath, [...(script === serverMain ? serverNodeFlags : []), script, ...args], {
    cwd: repoRoot,
    env: { ...(script === serverMain ? serverNodeEnv : {}), ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  const keep = (d) => {
    output.push(...String(d).split('\n').filter(Boolean));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const stop = async () => {
    if (exited) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const result = await exit;
    clearTimeout(timer);
    return result;
  };
  const unregister = onCleanup(stop);

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      unregister();
      throw new Error(`${name} exited (${exited.code ?? exited.signal}) before it was ready:\n${output.join('\n')}`);
    }
    try {
      const res = await fetch(baseUrl + readyPath, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      unregister();
      throw new Error(`${name} was not ready within ${timeoutMs / 1000} s:\n${output.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    port,
    pid: child.pid,
    output,
    get exited() {
      return exited;
    },
    stop: async () => {
      unregister();
      return stop();
    },
  };
}
