// Runs in piscina worker threads: bcrypt is CPU-bound and must never block the
// event loop that serves requests. Plain JavaScript, not TypeScript: a
// worker's entry file is not read from the compile cache, so a .ts one would
// load Node's type stripper (amaro, its WebAssembly) into every worker, about
// 16 MB of resident memory each and more time to come up (see
// docs/DECISIONS.md). The task's type is PasswordTask in passwords.ts.
import bcrypt from 'bcryptjs';

/** @param {{ op: 'hash', password: string, cost: number } | { op: 'compare', password: string, hash: string }} task */
export default function run(task) {
  if (task.op === 'hash') return bcrypt.hashSync(task.password, task.cost);
  return bcrypt.compareSync(task.password, task.hash);
}
