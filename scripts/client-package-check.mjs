#!/usr/bin/env node
// npm run check:client-package
//
// The published @polyauth/client, used as another project would use it:
//   1. `npm pack` in packages/client (its prepack builds dist/); the tarball
//      must hold only dist/*.js, dist/**/*.d.ts, package.json and README.md.
//   2. A fresh project in a temp dir outside the repository installs the
//      tarball (`npm install <tgz>`: openapi-fetch and esbuild come from the
//      registry, or npm's cache) and scripts/client-package/* is copied in.
//   3. There, on the system Node (20 or later) and on Node 24 (the repo's
//      node@24): `tsc --strict` type-checks the consumer (moduleResolution
//      nodenext on one, bundler on the other; no skipLibCheck), and the
//      compiled consumer runs against a real polyauth server started here
//      (`node apps/server/src/main.mjs`, fresh embedded store, access tokens
//      of 30 s): sign-in through mts-auth and oauth-service, one protected
//      call each, an automatic refresh on oauth-service after the access
//      token expires.
//   4. esbuild bundles the consumer for the browser: no Node built-in, no
//      import left out of the bundle.
// Exit 1 on any failure.
import './check-node.mjs';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { adminRunner, freshDatabase, onCleanup, repoRoot, runCleanups, serverEnv, startProcess } from './lib/server-process.mjs';

const ESBUILD_VERSION = '0.28.2';
const started = Date.now();
const run = promisify(execFile);
const secs = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (s) => console.log(`[${secs()}] ${s}`);

/** Runs a command; on failure throws with its output. */
async function sh(file, args, opts = {}) {
  try {
    return await run(file, args, { maxBuffer: 64 * 1024 * 1024, ...opts });
  } catch (err) {
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed (${err.code ?? err.signal}):\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** The first `node` on PATH outside this repository's node_modules, if it is 20 or later. */
async function systemNode() {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && !path.resolve(d).startsWith(path.join(repoRoot, 'node_modules')));
  for (const d of [...dirs, '/usr/local/bin', '/usr/bin']) {
    const candidate = path.join(d, 'node');
    if (!existsSync(candidate)) continue;
    const { stdout } = await sh(candidate, ['--version']);
    const version = stdout.trim();
    if (Number(version.slice(1).split('.')[0]) >= 20) return { bin: candidate, version };
    throw new Error(`the system Node ${candidate} is ${version}; the client supports 20 or later`);
  }
  throw new Error('no system Node (20 or later) on PATH');
}

async function main() {
  const node24 = { bin: path.join(repoRoot, 'node_modules/.bin/node'), version: process.version };
  node24.version = (await sh(node24.bin, ['--version'])).stdout.trim();
  const system = await systemNode();
  log(`system Node ${system.bin} ${system.version}; Node 24 ${node24.bin} ${node24.version}`);

  const work = mkdtempSync(path.join(tmpdir(), 'polyauth-client-consumer-'));
  if (work.startsWith(repoRoot)) throw new Error(`${work} is inside the repository`);
  onCleanup(() => rmSync(work, { recursive: true, force: true }));

  // The server (with its fixtures) starts while the package is packed and installed.
  const serverReady = startServer();
  serverReady.catch(() => {}); // awaited below

  // 1. Pack.
  const { stdout: packed } = await sh('npm', ['pack', '--json', '--pack-destination', work], { cwd: path.join(repoRoot, 'packages/client') });
  const [info] = JSON.parse(packed.slice(packed.indexOf('[')));
  const files = info.files.map((f) => f.path).sort();
  const stray = files.filter((f) => !(f === 'package.json' || f === 'README.md' || /^dist\/[\w-]+\.js$/.test(f) || /^dist\/([\w-]+\/)?[\w-]+\.d\.ts$/.test(f)));
  if (stray.length > 0) throw new Error(`the tarball holds files it should not: ${stray.join(', ')}`);
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/api-types/index.d.ts']) {
    if (!files.includes(needed)) throw new Error(`the tarball lacks ${needed}`);
  }
  log(`packed ${info.filename}: ${files.length} files, ${info.size} bytes`);

  // 2. A fresh project that installs the tarball.
  for (const f of readdirSync(path.join(repoRoot, 'scripts/client-package'))) copyFileSync(path.join(repoRoot, 'scripts/client-package', f), path.join(work, f));
  writeFileSync(
    path.join(work, 'package.json'),
    `${JSON.stringify({ name: 'polyauth-client-consumer', private: true, type: 'module', devDependencies: { esbuild: ESBUILD_VERSION } }, null, 2)}\n`,
  );
  const tsconfig = (moduleResolution, extra) => ({
    compilerOptions: {
      strict: true,
      target: 'es2022',
      lib: ['es2022', 'dom'],
      module: moduleResolution === 'bundler' ? 'esnext' : 'nodenext',
      moduleResolution,
      types: [],
      skipLibCheck: false,
      ...extra,
    },
    files: ['consumer.ts', 'types-check.ts'],
  });
  writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify(tsconfig('nodenext', { outDir: 'dist' }), null, 2));
  writeFileSync(path.join(work, 'tsconfig.bundler.json'), JSON.stringify(tsconfig('bundler', { noEmit: true }), null, 2));
  const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `./${info.filename}`], { cwd: work, env: npmEnv });
  log(`installed ${info.filename} and esbuild ${ESBUILD_VERSION} into ${work}`);

  // 3. Type-check on the system Node (emitting dist/ to run), then run the
  // consumer on both Nodes at once; while they wait for the access token to
  // expire, type-check on Node 24 and bundle for the browser.
  const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
  await sh(system.bin, [tsc, '-p', 'tsconfig.json'], { cwd: work });
  log(`tsc --strict (nodenext) on Node ${system.version}: ok`);
  const server = await serverReady;
  log(`server ready at ${server.baseUrl}`);
  const legs = [system, node24].map((n, i) => {
    const config = {
      baseUrl: server.baseUrl,
      clientId: server.client.id,
      clientSecret: server.client.secret,
      email: `consumer-${i}-${randomBytes(4).toString('hex')}@example.com`,
      password: 'correct horse battery',
    };
    return sh(n.bin, ['main.mjs'], { cwd: work, env: { ...process.env, CONSUMER_CONFIG: JSON.stringify(config) } }).then(({ stdout }) =>
      log(`consumer on Node ${n.version}:\n${stdout.trimEnd()}`),
    );
  });
  const meanwhile = (async () => {
    await sh(node24.bin, [tsc, '-p', 'tsconfig.bundler.json'], { cwd: work });
    log(`tsc --strict (bundler) on Node ${node24.version}: ok`);
    const { stdout } = await sh(node24.bin, ['bundle.mjs'], { cwd: work });
    log(`esbuild (platform browser):\n${stdout.trimEnd()}`);
  })();
  await Promise.all([...legs, meanwhile]);
  await server.stop();
}

async function startServer() {
  const db = await freshDatabase({ kind: 'pglite', label: 'client-package' });
  const env = serverEnv({
    ...db.env,
    SMTP_URL: '',
    PUBLIC_URL: '',
    REGISTRATION_ENABLED: 'true',
    ACCESS_TOKEN_TTL: '30',
    MAIL_MAX_PER_HOUR: '100',
    MAIL_MAX_PER_HOUR_PER_IP: '1000',
  });
  const client = await adminRunner(env)('client', 'create', '--name', 'client package check');
  // A generous readiness bound: a loaded machine is slow, not broken (speed is the bench's business).
  const proc = await startProcess({ env, name: 'polyauth server', timeoutMs: 300_000 });
  return { ...proc, client };
}

try {
  await main();
  console.log(`client package check: ok in ${secs()}`);
} catch (err) {
  console.error(`client package check FAILED after ${secs()}: ${err.message}`);
  process.exitCode = 1;
} finally {
  await runCleanups();
}
