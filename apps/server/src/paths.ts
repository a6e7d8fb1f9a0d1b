import { fileURLToPath } from 'node:url';

/** Folders of the repository the server reads at run time. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const specsDir = fileURLToPath(new URL('../../../specs/', import.meta.url));
export const docsDistDir = fileURLToPath(new URL('../../docs/dist/', import.meta.url));

export function specPath(apiId: string): string {
  return `${specsDir}${apiId}.yaml`;
}
