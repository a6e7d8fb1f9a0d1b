import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';

/**
 * An exclusive lock on the embedded database's directory, held by a live
 * process: the file `<dir>.lock` names its holder (pid and, on Linux, the
 * process's start time from /proc). An opener that finds the file checks
 * the holder at once: a live holder means "in use"; a dead one (kill -9, a
 * crash, a power cut), or a pid now owned by another process (pids are
 * reused, containers restart as pid 1), means the lock is stale and is
 * taken over without waiting. Nothing to refresh while held: liveness is
 * the holder's, not the file's age.
 *
 * A takeover is itself serialized by an atomic `mkdir <dir>.lock.takeover`,
 * so two openers that both find a stale lock cannot both win.
 */
export interface DirLock {
  release(): void;
}

interface Holder {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot); undefined off Linux. */
  start?: string;
}

/** Directories this process holds (a second open in one process is "in use" too). */
const held = new Set<string>();

/** A takeover directory older than this was left by a crashed opener. */
const TAKEOVER_STALE_MS = 10_000;

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces and parentheses)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22, starttime
  } catch {
    return undefined;
  }
}

function alive(holder: Holder): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  // this process's own pid, written by an earlier process (not in `held`)
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  if (holder.start === undefined) return true;
  const now = startTimeOf(holder.pid);
  return now === undefined || now === holder.start;
}

function readHolder(file: string): Holder | 'unreadable' {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return typeof parsed.pid === 'number' ? parsed : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Tries to create the lock file; false when it exists. */
function create(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    const me: Holder = { pid: process.pid, start: startTimeOf(process.pid) };
    writeSync(fd, `${JSON.stringify(me)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock on `dir` or returns undefined when a live process (this
 * one included) holds it.
 */
export function lockDataDir(dir: string): DirLock | undefined {
  const file = `${dir}.lock`;
  if (held.has(dir)) return undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(file)) return hold(dir, file);
    const takeover = `${file}.takeover`;
    try {
      mkdirSync(takeover);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // another opener is taking over right now, or crashed doing so
      try {
        if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) rmdirSync(takeover);
      } catch {
        // gone meanwhile
      }
      continue;
    }
    try {
      let stat;
      try {
        stat = statSync(file);
      } catch {
        continue; // released meanwhile: try to create it again
      }
      if (stat.isDirectory()) {
        // the lock directory of an older polyauth (refreshed every 5 s while held)
        if (Date.now() - stat.mtimeMs < 15_000) return undefined;
        rmSync(file, { recursive: true, force: true });
        continue;
      }
      const holder = readHolder(file);
      if (holder === 'unreadable') {
        // being written this instant by its creator, or torn by a crash
        if (Date.now() - stat.mtimeMs < 2_000) return undefined;
      } else if (alive(holder)) {
        return undefined;
      }
      unlinkSync(file);
    } finally {
      try {
        rmdirSync(takeover);
      } catch {
        // already removed as stale by another opener
      }
    }
  }
  return undefined;
}

function hold(dir: string, file: string): DirLock {
  held.add(dir);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      held.delete(dir);
      try {
        const holder = readHolder(file);
        if (holder !== 'unreadable' && holder.pid === process.pid) unlinkSync(file);
      } catch {
        // already gone
      }
    },
  };
}
