// Fails when packages/api-types differs from what the specs generate: the
// generated code is committed and must never be edited by hand (DESIGN.md).
// It regenerates into a temporary copy, so the working tree is never touched
// while other tasks (type-check, tests) read it.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientMountsFile, copyInputs, generateInto, root, typesDir } from './generate.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-generated-'));
try {
  copyInputs(dir);
  generateInto(dir);
  const fresh = readdirSync(path.join(dir, typesDir)).sort();
  const committed = readdirSync(path.join(root, typesDir)).sort();
  const problems = [];
  for (const f of new Set([...fresh, ...committed])) {
    const rel = `${typesDir}/${f}`;
    if (!committed.includes(f)) problems.push(`${rel} is missing (generated but not committed)`);
    else if (!fresh.includes(f)) problems.push(`${rel} is stale (committed but no spec generates it)`);
    else if (readFileSync(path.join(dir, typesDir, f), 'utf8') !== readFileSync(path.join(root, typesDir, f), 'utf8')) {
      problems.push(`${rel} differs from what its spec generates`);
    }
  }
  const fresh2 = path.join(dir, clientMountsFile);
  const committed2 = path.join(root, clientMountsFile);
  let committedMounts;
  try {
    committedMounts = readFileSync(committed2, 'utf8');
  } catch {
    problems.push(`${clientMountsFile} is missing (generated but not committed)`);
  }
  if (committedMounts !== undefined && committedMounts !== readFileSync(fresh2, 'utf8')) {
    problems.push(`${clientMountsFile} differs from what the specs generate`);
  }
  if (problems.length) {
    console.error(`Generated code is out of date:\n  ${problems.join('\n  ')}\nRun \`npm run generate\` and commit the result.`);
    process.exit(1);
  }
  console.log(`generated code matches the specs (${fresh.length + 1} files)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
