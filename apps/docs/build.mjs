// Builds apps/docs/dist: one self-contained Redoc page per API listed in
// redocly.yaml (`redocly build-docs --inlineBundle`, no CDN) and index.html.
// Fully offline; fails if any page would load a remote script, style or font.
import { execFile } from 'node:child_process';
import { readFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadApiDocs } from './src/apis.ts';
import { redocFile, renderIndexPage } from './src/index-page.ts';
import { localizeRedocPage } from './src/localize.ts';
import { remoteResourceRefs } from './src/offline.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(here, 'dist');

const started = performance.now();
const apis = await loadApiDocs(root);

// Build into a fresh sibling folder, then swap, so a running server never sees a half-built dist.
const staging = path.join(here, `.dist-${process.pid}`);
await rm(staging, { recursive: true, force: true });
await mkdir(staging, { recursive: true });

try {
  const redocly = redoclyBin();
  await Promise.all(
    apis.map(async (api) => {
      const file = path.join(staging, redocFile(api));
      await buildDocs(redocly, api, file);
      await writeFile(file, localizeRedocPage(await readFile(file, 'utf8')));
    }),
  );
  await writeFile(path.join(staging, 'index.html'), renderIndexPage(apis));

  const problems = [];
  for (const file of ['index.html', ...apis.map(redocFile)]) {
    const refs = remoteResourceRefs(await readFile(path.join(staging, file), 'utf8'));
    if (refs.length) problems.push(`${file}: ${refs.join(', ')}`);
  }
  if (problems.length) throw new Error(`built pages load remote resources (the docs must work offline):\n  ${problems.join('\n  ')}`);

  // Precompressed beside each page (a Redoc page is ~2.5 MB, ~0.5 MB in
  // brotli): the server sends the smallest one the client accepts, without
  // compressing anything per request.
  await Promise.all(['index.html', ...apis.map(redocFile)].map((file) => precompress(path.join(staging, file))));

  const old = `${dist}.old-${process.pid}`;
  await rename(dist, old).catch((err) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(staging, dist);
  await rm(old, { recursive: true, force: true });
} catch (err) {
  await rm(staging, { recursive: true, force: true });
  console.error(`build:docs failed: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const ms = Math.round(performance.now() - started);
console.log(`docs: ${apis.length} APIs (${apis.map((a) => a.id).join(', ')}) → ${path.relative(root, dist)}/ in ${ms} ms`);

async function precompress(file) {
  const body = await readFile(file);
  const [br, gz] = await Promise.all([
    promisify(brotliCompress)(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }),
    promisify(gzip)(body, { level: 9 }),
  ]);
  await Promise.all([writeFile(`${file}.br`, br), writeFile(`${file}.gz`, gz)]);
}

/** The local @redocly/cli entry point, run with this same Node (24) whatever is on PATH. */
function redoclyBin() {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@redocly/cli/package.json');
  const pkg = require(pkgPath);
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.redocly;
  return path.join(path.dirname(pkgPath), bin);
}

function buildDocs(redocly, api, output) {
  const args = [redocly, 'build-docs', path.relative(root, api.specFile), '--inlineBundle', '--output', output];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, env: { ...process.env, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1' }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`redocly build-docs for ${api.id} failed (${err.code ?? err.signal}):\n${stdout}${stderr}`));
        else resolve();
      },
    );
  });
}
