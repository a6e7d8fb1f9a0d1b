import { createRequire } from 'node:module';

type Compiled = { regexp: RegExp; keys: Array<{ name: string }> };
type PathToRegexp = (path: string, options?: Record<string, unknown>) => Compiled;

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
  // by [sensitive][strict], then by route: no key built per call
  const caches = [
    [new Map<string, Compiled>(), new Map<string, Compiled>()],
    [new Map<string, Compiled>(), new Map<string, Compiled>()],
  ] as const;
  const memoized = (path: string, options?: Record<string, unknown>): Compiled => {
    if (typeof path !== 'string' || !options) return original(path, options);
    for (const k in options) if (k !== 'sensitive' && k !== 'strict') return original(path, options);
    const cache = caches[options.sensitive ? 1 : 0][options.strict ? 1 : 0];
    let hit = cache.get(path);
    if (!hit) {
      hit = original(path, options);
      if (cache.size < 10_000) cache.set(path, hit); // routes of the specs: a few dozen
    }
    return hit;
  };
  mod.pathToRegexp = Object.assign(memoized, { [MEMOIZED]: true as const });
}
