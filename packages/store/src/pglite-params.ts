import type { PGlite } from '@electric-sql/pglite';

/**
 * PGlite's own start parameters, with Postgres's shared buffers at 32 MB
 * instead of its default 128 MB: PGlite allocates and clears them inside its
 * WASM memory at every start, which was half of the embedded store's start
 * time and ~130 MB of the process's resident memory (measured with
 * `npm run bench:startup`; see docs/DECISIONS.md; the bench opens PGlite alone
 * with these too, to show its floor). An embedded store's
 * working set (users, live tokens, counters) fits many times over.
 */
export const pgliteStartParams = (pglite: typeof PGlite): string[] => [...pglite.defaultStartParams, '-c', 'shared_buffers=32MB'];
