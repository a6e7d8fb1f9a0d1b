// PGlite alone, as the server opens it (its start parameters, the node flags
// `npm start` gives the server, the compile cache on), on the warm store in
// DATA_DIR: what the embedded store costs before any of polyauth's own code
// runs, the floor under its start-up and memory targets. Prints one JSON
// line: openMs (process start → the store answers `select 1`, Node's own
// start included) and rssMb (resident 5 s later, nothing else done). Run by
// scripts/bench-startup.mjs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { enableCompileCache } from '../../apps/server/src/compile-cache.mjs';

enableCompileCache();
const { pgliteStartParams } = await import('../../packages/store/src/pglite-params.ts');
const { PGlite } = await import('@electric-sql/pglite');
const db = await PGlite.create({ dataDir: path.resolve(process.env.DATA_DIR, 'pglite'), startParams: pgliteStartParams(PGlite) });
await db.query('select 1');
const openMs = performance.now();
await new Promise((r) => setTimeout(r, 5000));
const rssMb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
await db.close();
console.log(JSON.stringify({ openMs, rssMb }));
