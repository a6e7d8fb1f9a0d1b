// Adds lock records for native packages of other platforms that this
// machine's registry mirror does not serve (it 404s everything but
// linux-x64), so `npm install` here leaves them out of package-lock.json and
// `npm ci` then refuses the lock ("Missing: @swc/core-darwin-arm64@ from lock
// file", see npm/cli#8320 and #4828). Each record carries only what npm needs
// to skip the package on a non-matching platform (version, os, cpu, libc,
// optional); on a matching platform npm fetches it from the registry.
// Run after `npm install` changes the lock: `node scripts/lockfile-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;

const OS = { darwin: 'darwin', linux: 'linux', win32: 'win32', windows: 'win32', android: 'android', freebsd: 'freebsd', openharmony: 'openharmony' };
const CPU = { arm64: 'arm64', x64: 'x64', 64: 'x64', arm: 'arm', ia32: 'ia32', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/** Platform of a package named like core-linux-arm-gnueabihf or darwin-64. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const i = parts.findIndex((p) => p in OS);
  if (i === -1 || !(parts[i + 1] in CPU)) return undefined;
  const rest = parts.slice(i + 2).join('-');
  const libc = OS[parts[i]] === 'linux' ? (rest.startsWith('musl') ? ['musl'] : rest.startsWith('gnu') ? ['glibc'] : undefined) : undefined;
  return { os: [OS[parts[i]]], cpu: [CPU[parts[i + 1]]], ...(libc ? { libc } : {}) };
}

let added = 0;
for (const [key, pkg] of Object.entries(packages)) {
  for (const [dep, spec] of Object.entries(pkg.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (packages[nested] || packages[hoisted]) continue;
    const platform = platformOf(dep);
    if (!platform || !/^\d+\.\d+\.\d+/.test(spec)) continue;
    // keys in the order npm itself writes them (version, then alphabetical),
    // so that a later `npm install` leaves the lock as it is
    packages[hoisted] = { version: spec, cpu: platform.cpu, ...(pkg.dev ? { dev: true } : {}), ...(platform.libc ? { libc: platform.libc } : {}), optional: true, os: platform.os };
    added += 1;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: added ${added} platform records`);
