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
 */
export function enableCompileCache(): void {
  const dir = process.env.NODE_COMPILE_CACHE || fileURLToPath(new URL('../../../node_modules/.cache/polyauth-compile-cache', import.meta.url));
  module.enableCompileCache(dir);
}
