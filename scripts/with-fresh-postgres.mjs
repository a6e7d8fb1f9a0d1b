// Runs a command with DATABASE_URL pointing at a brand-new Postgres database,
// dropped afterwards: `node scripts/with-fresh-postgres.mjs npm run test:jest`.
// The server is POSTGRES_URL, else DATABASE_URL, else the development
// machines' postgres://postgres@127.0.0.1:5432/test. Fails loudly when no
// Postgres answers there: this suite exists to run on a real one.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const base = process.env.POSTGRES_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: node scripts/with-fresh-postgres.mjs <command> [args...]');
  process.exit(2);
}

const name = `polyauth_run_${Date.now()}_${randomBytes(3).toString('hex')}`;
const safe = (url) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

async function admin(sql) {
  const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

try {
  await admin(`create database ${name}`);
} catch (err) {
  console.error(`Postgres at ${safe(base)} cannot be used: ${err.message}\nStart Postgres or set POSTGRES_URL to a server where a new database may be created.`);
  process.exit(1);
}
const url = new URL(base);
url.pathname = `/${name}`;
console.log(`[polyauth] fresh Postgres database ${name} on ${url.host}`);

const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, DATABASE_URL: url.toString() } });
const forward = (sig) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code = await new Promise((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
try {
  await admin(`drop database if exists ${name} with (force)`);
} catch (err) {
  console.error(`could not drop ${name}: ${err.message}`);
}
process.exit(code);
