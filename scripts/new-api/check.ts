// npm run check:new-api — CI's proof that `npm run new:api` works.
//
// Copies the repository (tracked and unignored files, as they are on disk)
// into a scratch directory, with node_modules linked rather than copied
// (the workspace packages point into the copy), scaffolds an API with a
// made-up name there, then runs in that copy: `npm test` as the README
//   gives it (redocly lint with the new spec, eslint, dependency-cruiser
//   layering, the generated-code check, tsc, and the whole jest suite: the
//   new API's own test and the docs' spec list among them); check:breaking
//   (the new spec is additive, its changelog entry present); and the copy's
//   server, started as `npm start` would, calling the new operation over
//   HTTP. The whole suite takes minutes on two cores: it is what proves that
//   nothing else the scaffold touched (three lists) broke.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaffold } from './scaffold.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Tracked and unignored files, as they are in the working tree. */
function copyRepo(into: string): number {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  let n = 0;
  for (const f of files) {
    let stat;
    try {
      stat = lstatSync(path.join(root, f));
    } catch {
      continue; // deleted in the working tree
    }
    if (!stat.isFile() && !stat.isSymbolicLink()) continue;
    mkdirSync(path.dirname(path.join(into, f)), { recursive: true });
    cpSync(path.join(root, f), path.join(into, f), { verbatimSymlinks: true });
    n += 1;
  }
  return n;
}

/**
 * node_modules of the copy: every installed package linked to the real one,
 * except the workspace links (@polyauth/*), which must point into the copy
 * so that the copy's generated types are the ones compiled and run.
 */
function linkNodeModules(into: string): void {
  for (const dir of ['', ...['apps', 'packages'].flatMap((w) => readdirSync(path.join(root, w)).map((d) => `${w}/${d}`))]) {
    const from = path.join(root, dir, 'node_modules');
    let entries: string[];
    try {
      entries = readdirSync(from);
    } catch {
      continue;
    }
    const to = path.join(into, dir, 'node_modules');
    mkdirSync(to, { recursive: true });
    for (const entry of entries) {
      if (entry === '@polyauth') {
        mkdirSync(path.join(to, entry));
        for (const pkg of readdirSync(path.join(from, entry))) {
          const target = readlinkSync(path.join(from, entry, pkg)); // relative, e.g. ../../packages/client
          symlinkSync(target, path.join(to, entry, pkg));
        }
      } else if (entry !== '.cache') {
        symlinkSync(path.join(from, entry), path.join(to, entry));
      }
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The copy's server (`node apps/server/src/main.mjs`, production settings, embedded store), once /readyz answers. */
async function startCopy(scratch: string, dataDir: string) {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(scratch, 'apps/server/src/main.mjs')], {
    cwd: scratch,
    env: { ...process.env, NODE_ENV: 'production', JWT_SECRET: randomBytes(48).toString('base64url'), TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'), HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout.on('data', (d) => output.push(String(d)));
  child.stderr.on('data', (d) => output.push(String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the copy's server exited (${child.exitCode}):\n${output.join('')}`);
    const ready = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { baseUrl, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the copy's server was not ready within 300 s:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Step {
  name: string;
  seconds: number;
}

/** Runs a command in the copy, with node_modules/.bin (and so Node 24) first on PATH as npm would; output kept for a failure. */
function run(steps: Step[], name: string, cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${path.join(root, 'node_modules/.bin')}${path.delimiter}${process.env.PATH}`, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1', ...env },
    });
    const output: string[] = [];
    child.stdout.on('data', (d) => output.push(String(d)));
    child.stderr.on('data', (d) => output.push(String(d)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - t0) / 1000;
      steps.push({ name, seconds });
      console.log(`--- ${name} (${seconds.toFixed(1)} s): ${[path.basename(cmd), ...args].join(' ')} → ${code === 0 ? 'ok' : `FAILED (${code ?? signal})`}`);
      if (code === 0) resolve();
      else {
        console.log(output.join(''));
        reject(new Error(`${name} failed (${code ?? signal})`));
      }
    });
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const name = `parrot-${Math.random().toString(36).slice(2, 6).replace(/[^a-z]/g, 'x')}`;
  const camel = name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const scratch = mkdtempSync(path.join(tmpdir(), 'polyauth-new-api-'));
  const steps: Step[] = [];
  const node = process.execPath;
  try {
    const n = copyRepo(scratch);
    linkNodeModules(scratch);
    console.log(`check:new-api: ${n} files copied to ${scratch}; scaffolding "${name}"`);
    const t0 = performance.now();
    const written = scaffold(scratch, { name, title: 'Parrot (a made-up API)' });
    steps.push({ name: 'new:api (with generate)', seconds: (performance.now() - t0) / 1000 });
    console.log(`  ${written.join('\n  ')}`);

    // Two lanes, for two cores: the copy's whole `npm test` (the README's
    // test command: its lints, generated-code check, type-check and every
    // jest suite, the new API's own test and the docs' spec list among
    // them), and beside it check:breaking then the copy's server over HTTP.
    // Both lanes finish (allSettled) before the copy is removed, so no server
    // outlives a failure.
    const lanes = await Promise.allSettled([
      run(steps, 'npm test (the whole suite, in the copy)', scratch, 'npm', ['test'], { DATABASE_URL: '' }),
      (async () => {
        await run(steps, 'check:breaking', scratch, node, ['scripts/breaking/check.ts']);
        // The copy's own server, started as `npm start` would, answers the new operation.
        const t1 = performance.now();
        const srv = await startCopy(scratch, path.join(scratch, '.data'));
        try {
          const mount = `/api/${name}`;
          const r = await fetch(`${srv.baseUrl}${mount}/status`);
          const body = (await r.json()) as { api?: string; version?: string };
          if (r.status !== 200 || body.api !== name || body.version !== '0.1.0') {
            throw new Error(`GET ${mount}/status answered ${r.status} ${JSON.stringify(body)}`);
          }
          const spec = await fetch(`${srv.baseUrl}/specs/${name}.yaml`);
          if (spec.status !== 200 || !(await spec.text()).includes('operationId: getStatus')) throw new Error(`/specs/${name}.yaml answered ${spec.status}`);
          console.log(`\n--- over HTTP: GET ${mount}/status → ${r.status} ${JSON.stringify(body)}; /specs/${name}.yaml served (${camel}Api wired)`);
        } finally {
          await srv.stop();
        }
        steps.push({ name: 'server start + HTTP', seconds: (performance.now() - t1) / 1000 });
      })(),
    ]);
    for (const lane of lanes) if (lane.status === 'rejected') throw lane.reason;

  } finally {
    console.log(`\ncheck:new-api: ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
    for (const s of steps) console.log(`  ${s.seconds.toFixed(1).padStart(6)} s  ${s.name}`);
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  () => console.log('check:new-api: ok'),
  (err: unknown) => {
    console.error(`check:new-api: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
