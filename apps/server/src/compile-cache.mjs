import module from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Turns on Node's on-disk compile cache (type-stripped and compiled modules)
 * for the rest of the process's imports; the entry points call it before
 * they import anything else. The cache lives in this checkout's
 * node_modules/.cache (or NODE_COMPILE_CACHE), a directory its owner
 * controls, not Node's default in the shared system temp directory, where
 * another local user could leave compiled code for this server to load.
 * Off with NODE_DISABLE_COMPILE_CACHE=1; where the directory cannot be
 * written, Node simply runs without it.
 *
 * Plain JavaScript, as are the entry points that load it first (main.mjs,
 * bin/polyauth.mjs): TypeScript loaded before the cache is on is stripped by
 * Node's type stripper (amaro), whose WebAssembly then stays in the process,
 * about 17 MB resident (see docs/DECISIONS.md).
 */
export function enableCompileCache() {
  module.enableCompileCache(compileCacheDir());
}

/** The compile cache's directory (other caches of the start keep theirs beside it). */
export function compileCacheDir() {
  return process.env.NODE_COMPILE_CACHE || fileURLToPath(new URL('../../../node_modules/.cache/polyauth-compile-cache', import.meta.url));
}
