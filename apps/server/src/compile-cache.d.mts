/** Turns on Node's on-disk compile cache for the rest of the process's imports (compile-cache.mjs). */
export function enableCompileCache(): void;
