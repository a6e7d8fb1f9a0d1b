import type { RequestHandler } from 'express';

/**
 * Middleware run one after another as one router layer, with the semantics
 * Express's router gives a list of `use` layers at the root path: an error
 * (thrown, passed to `next`, or a rejected promise) skips the rest and goes
 * to `next(err)`; `next('route')` goes on to the next one; `next('router')`
 * leaves. Without the router's per-layer path matching, url trimming and
 * param bookkeeping: a cheap route walks a dozen layers.
 */
export function series(mws: readonly RequestHandler[]): RequestHandler {
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err === 'router' || (err !== undefined && err !== null && err !== 'route')) {
        next(err);
        return;
      }
      const mw = mws[i++];
      if (!mw) {
        next();
        return;
      }
      try {
        const ret = mw(req, res, step) as unknown;
        if (ret instanceof Promise) ret.then(undefined, (e: unknown) => next(e ?? new Error('Rejected promise')));
      } catch (e) {
        next(e);
      }
    };
    step();
  };
}
