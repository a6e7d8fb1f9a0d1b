// The embedded database's data directory is guarded by a lock: a second
// opener (same process or another one) fails with a clear message instead of
// corrupting it, and the lock is released on close. PGlite only by nature.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DataDirInUseError, openPglite, type Database } from '../src/index.ts';

/** A PGlite start takes seconds, minutes on a loaded machine: the process tests get room. */
const SLOW = 300_000;

const databaseModule = fileURLToPath(new URL('../src/database.ts', import.meta.url));

/** Another Node process that tries to open `dataDir`, reports and closes. */
function openInChild(dataDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    import { openPglite } from ${JSON.stringify(databaseModule)};
    try {
      const db = await openPglite({ dataDir: process.argv[1] });
      await db.knex.raw('select 1');
      await db.close();
      console.log('opened and closed');
    } catch (err) {
      console.error(err.name + ': ' + err.message);
      process.exit(3);
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script, dataDir], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('PGlite data directory lock', () => {
  let root: string;
  let dataDir: string;
  let first: Database | undefined;
  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'polyauth-lock-'));
    dataDir = path.join(root, 'pglite');
    first = await openPglite({ dataDir });
  }, SLOW);
  afterAll(async () => {
    await first?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a second open in the same process fails with DataDirInUseError and a clear message', async () => {
    const second = openPglite({ dataDir });
    await expect(second).rejects.toBeInstanceOf(DataDirInUseError);
    await expect(second).rejects.toThrow(`The embedded database in ${dataDir} is in use by another polyauth process`);
    await expect(second).rejects.toThrow(/DATA_DIR|DATABASE_URL/);
    // the first opener is unharmed
    expect((await first!.knex.raw('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  test('a second PROCESS on the same directory fails with the same clear message', async () => {
    const r = await openInChild(dataDir);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`DataDirInUseError: The embedded database in ${dataDir} is in use by another polyauth process`);
    expect(r.stdout).toBe('');
  }, SLOW);

  test('the lock is released on close: another process, then this one, can open it', async () => {
    await first!.knex.raw('create table kept (v text)');
    await first!.knex('kept').insert({ v: 'still here' });
    await first!.close();
    first = undefined;

    const r = await openInChild(dataDir);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('opened and closed');
    expect(r.code).toBe(0);

    first = await openPglite({ dataDir });
    expect(await first.knex('kept').select('v')).toEqual([{ v: 'still here' }]);
  }, SLOW);
});

/** Holders started, killed at the end whatever happened. */
const holders: ChildProcess[] = [];

/** Another Node process that opens `dataDir`, prints "ready" and waits to be killed. */
function holdInChild(dataDir: string): Promise<{ kill(signal: NodeJS.Signals): Promise<void> }> {
  const script = `
    import { openPglite } from ${JSON.stringify(databaseModule)};
    await openPglite({ dataDir: process.argv[1] });
    console.log('ready');
    setInterval(() => undefined, 60_000);`;
  const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script, dataDir], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  holders.push(child);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the holder exited (${code}) before it was ready`)));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        resolve({
          kill: async (signal) => {
            child.kill(signal);
            await exited;
          },
        });
      }
    });
  });
}

describe('PGlite data directory lock after a crash', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'polyauth-lock-crash-'));
  });
  afterAll(() => {
    for (const h of holders) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  test('a holder killed with SIGKILL leaves a lock that the next opener takes over at once', async () => {
    const dataDir = path.join(root, 'killed');
    const holder = await holdInChild(dataDir);
    // while it lives: in use
    const busy = await openInChild(dataDir);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toContain('is in use by another polyauth process');
    await holder.kill('SIGKILL');
    expect(existsSync(`${dataDir}.lock`)).toBe(true); // left behind by the dead holder
    const r = await openInChild(dataDir); // at once, no waiting for a lock to age
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('opened and closed');
    expect(r.code).toBe(0);
    expect(existsSync(`${dataDir}.lock`)).toBe(false); // released on close
  }, SLOW);

  const onLinux = existsSync('/proc/self/stat') ? test : test.skip;
  onLinux('a lock naming a live pid that another process now owns (pid reused) is stale', async () => {
    const dataDir = path.join(root, 'reused');
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid: process.ppid, start: String(start + 1) }));
    const db = await openPglite({ dataDir });
    await db.close();
    // the same pid with its real start time is a live holder
    writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid: process.ppid, start: String(start) }));
    await expect(openPglite({ dataDir })).rejects.toBeInstanceOf(DataDirInUseError);
  }, SLOW);
});
