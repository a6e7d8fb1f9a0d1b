// Bundles the consumer for the browser with esbuild (platform browser, ESM):
// fails on any Node built-in or any import left unbundled, and checks that the
// factories the consumer does not use are left out (sideEffects: false).
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['consumer.ts'],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: false,
  metafile: true,
  outfile: 'browser/consumer.js',
  logLevel: 'error',
});
const inputs = Object.keys(result.metafile.inputs);
const output = Object.values(result.metafile.outputs)[0];
const problems = [];
for (const i of inputs) if (/^node:|^(fs|path|crypto|os|http|https|net|url|util|buffer|stream)$/.test(i)) problems.push(`Node built-in ${i}`);
for (const imp of output.imports) problems.push(`unbundled import ${imp.path}`);
if (!inputs.some((i) => i.includes('node_modules/@polyauth/client/dist/'))) problems.push('the client is not in the bundle');
const { readFileSync } = await import('node:fs'); // the checker's own read, not the bundle's
const text = readFileSync('browser/consumer.js', 'utf8');
for (const unused of ['createUserTokenAuthClient', 'createAuthV3Client', 'createMintAuthClient']) {
  if (text.includes(unused)) problems.push(`${unused} is in the bundle though unused`);
}
if (problems.length > 0) {
  console.error(`browser bundle: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`  browser bundle: ${inputs.length} modules, ${output.bytes} bytes, no Node built-in`);
