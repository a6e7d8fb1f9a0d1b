// The server's entry point (`npm start`, `node apps/server/src/main.ts`):
// checks the Node version, turns on Node's on-disk compile cache, then loads
// the server (serve.ts). The cache (type-stripped and compiled modules, in
// the system temp directory or NODE_COMPILE_CACHE; off with
// NODE_DISABLE_COMPILE_CACHE=1) must be on before the first of the server's
// modules loads: loading them was a large part of a warm start.
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`polyauth needs Node.js 24 or newer; this is ${process.version}. Start it with \`npm start\`.`);
  process.exit(1);
}

module.enableCompileCache();
await import('./serve.ts');
