// The server's process lifecycle, for real: `node apps/server/src/main.mjs`
// (and `npm start`) in child processes on the embedded store. A graceful stop
// under keep-alive load, signals through npm, and a restart right after
// kill -9.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = path.join(ROOT, 'apps/server/src/main.mjs');
/** The admin CLI as `npm run admin` runs it (the bin, with --liftoff-only: see cli/main.ts). */
const CLI = ['--liftoff-only', path.join(ROOT, 'apps/server/bin/polyauth.mjs')];
/** Server starts take seconds, minutes on a loaded machine. */
const SLOW = 600_000;

/**
 * One embedded store, initialised once (with the user the drain test signs
 * in as) and copied for each test: an initdb per test would dominate the run.
 */
let template: string;
let templateEnv: NodeJS.ProcessEnv;
beforeAll(() => {
  template = mkdtempSync(path.join(tmpdir(), 'polyauth-lifecycle-'));
  templateEnv = baseEnv(path.join(template, 'data'), { BCRYPT_COST: '14' });
  execFileSync(
    process.execPath,
    [...CLI, 'user', 'create', '--username', 'drain', '--email', 'drain@example.com', '--password', 'correct horse battery', '--first-name', 'Dee', '--last-name', 'Rain', '--json'],
    { env: templateEnv, cwd: ROOT },
  );
}, SLOW);
afterAll(() => rmSync(template, { recursive: true, force: true }));

/** A copy of the template store in `dir`. */
function storeCopy(dir: string): string {
  cpSync(path.join(template, 'data'), dir, { recursive: true });
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function baseEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    NODE_OPTIONS: '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    BCRYPT_COST: '4',
    DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('hex'),
    ...extra,
  };
}

interface Proc {
  child: ChildProcess;
  port: number;
  /** stdout and stderr so far. */
  output: () => string;
  /** Resolves with the exit code (or signal name) and when it exited (performance.now()). */
  exited: Promise<{ code: number | string; at: number }>;
}

/** Every process started, stopped at the end whatever a test did. */
const spawned: ChildProcess[] = [];
afterAll(() => {
  for (const c of spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

function spawnServer(cmd: string, args: string[], env: NodeJS.ProcessEnv, port: number): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | string; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', at: performance.now() })),
  );
  return { child, port, output: () => out, exited };
}

/** Waits until GET /readyz answers 200, or the process exits (then throws with its output). */
async function ready(p: Proc, timeoutMs = 400_000): Promise<void> {
  let gone = false;
  void p.exited.then(() => (gone = true));
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (gone) throw new Error(`the server exited before it was ready:\n${p.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${p.port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the server was not ready within ${timeoutMs} ms:\n${p.output()}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

function request(agent: http.Agent, port: number, method: string, urlPath: string, body?: string, onSent?: () => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, method, path: urlPath, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (onSent) req.on('finish', onSent);
    req.end(body);
  });
}

describe('graceful stop under keep-alive load', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'polyauth-drain-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(
    'SIGTERM: the login in flight gets its 200, every busy keep-alive connection its answers (the last with Connection: close), then exit 0',
    async () => {
      const dataDir = storeCopy(path.join(root, 'data'));
      // a slow bcrypt (the user's hash is cost 14), so the login is still
      // hashing when the signal comes
      // (SHUTDOWN_TIMEOUT_MS generous: on a loaded machine a cost-14 hash
      // outlasts the default 10 s, and the deadline would cut the login off)
      const env = baseEnv(dataDir, { BCRYPT_COST: '14', LAST_LOGIN_FLUSH_MS: '60000', SHUTDOWN_TIMEOUT_MS: '120000' });
      const port = await freePort();
      const server = spawnServer(process.execPath, [MAIN], env, port);
      await ready(server);

      const agent = new http.Agent({ keepAlive: true, maxSockets: 30 });
      let stopped = false;
      let lastResponseAt = 0;
      const failures: string[] = [];
      const answers: Answer[] = [];
      // 30 keep-alive connections, each asking GET /healthz back to back
      // until the server says Connection: close on it
      const busy = Array.from({ length: 30 }, async () => {
        for (;;) {
          try {
            const a = await request(agent, port, 'GET', '/healthz');
            lastResponseAt = performance.now();
            answers.push(a);
            if (a.status !== 200) failures.push(`healthz ${a.status}`);
            if (a.connection === 'close') return 'closed';
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            // a new connection after the listener closed: never read by the server
            if (stopped && code === 'ECONNREFUSED') return 'refused';
            failures.push(`healthz: ${code ?? (err as Error).message}`);
            return 'failed';
          }
        }
      });
      await new Promise((r) => setTimeout(r, 300)); // the connections are open and busy

      const loginAgent = new http.Agent({ keepAlive: false });
      let sent!: () => void;
      const flushed = new Promise<void>((resolve) => (sent = resolve));
      const login = request(loginAgent, port, 'POST', '/api/v3/auth/login', JSON.stringify({ userName: 'drain', password: 'correct horse battery' }), sent).then((a) => {
        lastResponseAt = performance.now();
        return a;
      });
      // Sent in full, then a generous moment for the server to read it (a
      // request still in the kernel's buffers is not one the server read);
      // the bcrypt cost (14) keeps it hashing well past that.
      await flushed;
      await new Promise((r) => setTimeout(r, 1_500));
      stopped = true;
      server.child.kill('SIGTERM');

      const loginAnswer = await login;
      const ends = await Promise.all(busy);
      const exit = await server.exited;
      agent.destroy();

      expect(failures).toEqual([]);
      expect(loginAnswer.status).toBe(200);
      expect(loginAnswer.body).toContain('"token":"');
      expect(loginAnswer.connection).toBe('close');
      expect(ends.filter((e) => e === 'failed')).toEqual([]);
      expect(answers.length).toBeGreaterThan(30);
      expect(exit.code).toBe(0);
      // exit after the last response, and soon: the margin is generous (a
      // loaded machine); the server's own account is checked below
      expect(exit.at).toBeGreaterThanOrEqual(lastResponseAt);
      expect(exit.at - lastResponseAt).toBeLessThan(5_000);
      const stoppedLine = server
        .output()
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as { msg?: string; drainMs?: number; drained?: boolean };
          } catch {
            return {};
          }
        })
        .find((l) => l.msg === 'stopped');
      expect(stoppedLine?.drained).toBe(true);
      expect(stoppedLine?.drainMs).toBeLessThan(120_000);
      process.stdout.write(
        `[polyauth] drain: ${answers.length} answers, exit ${Math.round(exit.at - lastResponseAt)} ms after the last response; the server says drainMs=${stoppedLine?.drainMs}\n`,
      );

    },
    SLOW,
  );
});

describe('signals reach the server however it is started', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'polyauth-signals-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(
    '`npm start`: SIGTERM to the npm pid stops the server (port free, node gone, exit 0 logged)',
    async () => {
      const port = await freePort();
      const npm = spawnServer('npm', ['start', '--silent'], baseEnv(storeCopy(path.join(root, 'npm'))), port);
      await ready(npm);
      // with `exec`, the shell npm runs the script in becomes node: npm's child is the server
      const pids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(npm.child.pid)]).toString().trim().split(/\s+/).map(Number);
      expect(pids).toHaveLength(1);
      const serverPid = pids[0]!;
      // (its comm is node's thread name; the command line tells)
      expect(execFileSync('ps', ['-o', 'args=', '-p', String(serverPid)]).toString()).toContain('apps/server/src/main.mjs');

      npm.child.kill('SIGTERM');
      const exit = await npm.exited;
      for (let i = 0; i < 100 && alive(serverPid); i++) await new Promise((r) => setTimeout(r, 50));
      expect(alive(serverPid)).toBe(false);
      expect(await portFree(port)).toBe(true);
      expect(npm.output()).toContain('"msg":"stopped"');
      expect([0, 'SIGTERM', 143]).toContain(exit.code);
    },
    SLOW,
  );

  test(
    '`node apps/server/src/main.mjs`: SIGINT (Ctrl-C) stops it with exit 0',
    async () => {
      const port = await freePort();
      const server = spawnServer(process.execPath, [MAIN], baseEnv(storeCopy(path.join(root, 'node'))), port);
      await ready(server);
      server.child.kill('SIGINT');
      expect((await server.exited).code).toBe(0);
      expect(await portFree(port)).toBe(true);
    },
    SLOW,
  );
});

describe('restart after a crash', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'polyauth-crash-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(
    'kill -9, then an immediate restart on the same embedded store is ready; a second live server gets the "in use" error',
    async () => {
      const env = baseEnv(storeCopy(path.join(root, 'data')));
      const first = spawnServer(process.execPath, [MAIN], env, await freePort());
      await ready(first);

      // a second process while the first lives: the clear error, exit 1
      const second = spawnServer(process.execPath, [MAIN], env, await freePort());
      expect((await second.exited).code).toBe(1);
      expect(second.output()).toContain('is in use by another polyauth process');

      first.child.kill('SIGKILL');
      await first.exited;
      const restarted = spawnServer(process.execPath, [MAIN], env, await freePort());
      await ready(restarted); // throws with its output if it exits with "in use"
      restarted.child.kill('SIGTERM');
      expect((await restarted.exited).code).toBe(0);
    },
    SLOW,
  );
});
