/** Turns on Node's on-disk compile cache for the rest of the process's imports (compile-cache.mjs). */
export function enableCompileCache(): void;
/** The compile cache's directory (other caches of the start keep theirs beside it). */
export function compileCacheDir(): string;
