import url from 'node:url';

/**
 * Node 24's `url.parse()` walks the caller's stack on every call until it has
 * printed its DEP0169 warning once, which it never does for callers inside
 * node_modules. express-openapi-validator calls it on every request
 * (req.parameter.mutator.js), which made it the largest single cost of a
 * cheap request. Calling it once from here, with deprecation output muted for
 * that one call, marks the warning as shown. (Under jest the sandbox's
`process` is a copy, so the muting does not reach Node and the warning is
printed once per test process; harmless.) Our own code does not use
 * `url.parse()`, so no warning we would want is lost. It changes the
 * process (the warning counts as shown), so only serve.ts calls it, once at
 * start-up; createApp does not.
 */
export function settleUrlParseDeprecation(): void {
  const muted = process.noDeprecation;
  process.noDeprecation = true;
  try {
    url.parse('/');
  } finally {
    process.noDeprecation = muted;
  }
}
