import { createRequire } from 'node:module';

type PathToRegexp = (path: string, options?: Record<string, unknown>) => { regexp: RegExp; keys: Array<{ name: string }> };

const MEMOIZED = Symbol.for('polyauth.pathToRegexp.memoized');

/**
 * express-openapi-validator 5.6 (openapi.metadata.js, lookupRoute) compiles
 * every route of the spec with path-to-regexp on every request until one
 * matches: most of the cost of a refused request. The compilation is a pure
 * function of (route, sensitive, strict), so this memoizes path-to-regexp's
 * `pathToRegexp` as the validator resolves it (its own require), for exactly
 * the options the validator passes. Matching is unchanged: the same regexp
 * (no g/y flag, so no lastIndex state) and keys are returned. Any other call
 * (other options) goes straight through. Idempotent.
 */
export function memoizeValidatorRouteCompilation(): void {
  const requireFromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
  const mod = requireFromValidator('path-to-regexp') as { pathToRegexp: PathToRegexp & { [MEMOIZED]?: true } };
  const original = mod.pathToRegexp;
  if (typeof original !== 'function' || original[MEMOIZED]) return;
  const cache = new Map<string, ReturnType<PathToRegexp>>();
  const memoized = (path: string, options?: Record<string, unknown>) => {
    const keys = options ? Object.keys(options) : [];
    if (typeof path !== 'string' || keys.some((k) => k !== 'sensitive' && k !== 'strict')) return original(path, options);
    const key = `${options?.sensitive ? 1 : 0}${options?.strict ? 1 : 0}${path}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = original(path, options);
      if (cache.size < 10_000) cache.set(key, hit); // routes of the specs: a few dozen
    }
    return hit;
  };
  mod.pathToRegexp = Object.assign(memoized, { [MEMOIZED]: true as const });
}
