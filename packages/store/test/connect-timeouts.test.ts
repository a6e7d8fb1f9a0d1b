// The connect timeout of each new pooled connection (connect-timeouts.ts):
// the policy on its own, then on Postgres through a TCP proxy written here
// that can hold new connections without answering (as HAProxy does while it
// retries a dead primary) or answer them slowly (a slow but healthy database).
import { afterEach, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import { ConnectTimeouts, OUTAGE_CONNECT_TIMEOUT_MS, openPostgres, type Database, type DatabaseLog } from '../src/index.ts';

describe('ConnectTimeouts', () => {
  test('while the database is up, every attempt gets the full timeout', () => {
    const t = new ConnectTimeouts(3000);
    expect([1, 2, 3].map((id) => t.start(id, false, 0))).toEqual([3000, 3000, 3000]);
  });

  test('while it is down, one attempt at a time gets the full timeout, the others the outage timeout', () => {
    const t = new ConnectTimeouts(3000);
    expect(OUTAGE_CONNECT_TIMEOUT_MS).toBe(500);
    expect(t.start(1, true, 0)).toBe(3000);
    expect(t.start(2, true, 10)).toBe(500);
    expect(t.start(3, true, 20)).toBe(500);
    t.end(2, false, 510);
    expect(t.start(4, true, 610)).toBe(500); // the full one is still pending
    t.end(1, false, 1000);
    expect(t.start(5, true, 1100)).toBe(3000); // it ended: the next one is the full one
    expect(t.start(6, true, 1100)).toBe(500);
  });

  test('an attempt started while the database was up counts as the full one once it is down', () => {
    const t = new ConnectTimeouts(3000);
    expect(t.start(1, false, 0)).toBe(3000);
    expect(t.start(2, true, 50)).toBe(500);
  });

  test('a full attempt never heard of again is forgotten after the full timeout', () => {
    const t = new ConnectTimeouts(3000);
    expect(t.start(1, true, 0)).toBe(3000);
    expect(t.start(2, true, 2999)).toBe(500);
    expect(t.start(3, true, 3001)).toBe(3000);
  });

  test('the outage timeout is three times the slowest set-up since the database was lost, within [500 ms, the full timeout]', () => {
    const t = new ConnectTimeouts(3000);
    let id = 0;
    const setUp = (ms: number) => {
      id += 1;
      t.start(id, true, 0);
      t.end(id, true, ms);
    };
    setUp(20);
    expect(t.outageMs).toBe(500);
    setUp(400);
    expect(t.outageMs).toBe(1200);
    setUp(10);
    expect(t.outageMs).toBe(1200); // the slowest counts
    setUp(1500);
    expect(t.outageMs).toBe(3000); // never more than the full timeout
    t.lost(); // a new outage: set-ups from before (a slow first connection at start) no longer count
    expect(t.outageMs).toBe(500);
    t.start(100, true, 0);
    t.end(100, false, 2900); // a failure is no set-up time
    expect(t.outageMs).toBe(500);
    expect(new ConnectTimeouts(300).outageMs).toBe(300);
  });
});

/** A TCP proxy to Postgres: passes, refuses, holds new connections silently, or passes them after a delay. */
class TcpProxy {
  mode: 'pass' | 'refuse' | 'hold' = 'pass';
  /** Delay before a passed connection reaches Postgres, ms. */
  delayMs = 0;
  port = 0;
  readonly #sockets = new Set<net.Socket>();
  readonly #server: net.Server;

  constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      client.on('error', () => undefined);
      this.#track(client);
      if (this.mode === 'refuse') return void client.destroy();
      if (this.mode === 'hold') return void client.resume(); // read, never answer, never close
      const early: Buffer[] = [];
      client.on('data', (chunk: Buffer) => early.push(chunk));
      setTimeout(() => {
        if (client.destroyed) return;
        const upstream = net.connect(target.port, target.host);
        upstream.on('error', () => undefined);
        this.#track(upstream);
        upstream.on('connect', () => {
          client.removeAllListeners('data');
          for (const chunk of early) upstream.write(chunk);
          client.pipe(upstream);
          upstream.pipe(client);
        });
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      }, this.delayMs);
    });
  }

  #track(s: net.Socket): void {
    this.#sockets.add(s);
    s.on('close', () => this.#sockets.delete(s));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** Closes every connection made so far. */
  dropAll(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('new pooled connections while the database is down (Postgres, through a TCP proxy)', () => {
  const DATABASE_URL = process.env.DATABASE_URL;
  if (!DATABASE_URL) {
    test.skip('needs a real Postgres (DATABASE_URL)', () => undefined);
    return;
  }
  let proxy: TcpProxy | undefined;
  let db: Database | undefined;
  const states: string[] = [];
  const log: DatabaseLog = {
    info: (obj) => void ((obj as { database?: string }).database && states.push((obj as { database: string }).database)),
    warn: (obj) => void ((obj as { database?: string }).database && states.push((obj as { database: string }).database)),
    debug: () => undefined,
  };

  async function open(connectTimeoutMs: number): Promise<Database> {
    const target = new URL(DATABASE_URL!);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.listen();
    const url = new URL(DATABASE_URL!);
    url.host = `127.0.0.1:${proxy.port}`;
    states.length = 0;
    db = await openPostgres({ url: url.toString(), poolMax: 5, connectTimeoutMs, acquireTimeoutMs: 10_000, log });
    await db.knex.raw('select 1');
    return db;
  }

  afterEach(async () => {
    await proxy?.close(); // first: an attempt it holds ends at once
    await db?.close();
    db = undefined;
    proxy = undefined;
  });

  test.each(['under a statement in flight', 'with its connections idle'])(
    'attempts held by a proxy during an outage do not hold back requests once it routes again: the database lost %s',
    async (when) => {
      // A long connect timeout makes the difference plain: before, every
      // attempt started during the outage was held for all of it.
      const d = await open(5000);
      const inFlight = when === 'under a statement in flight' ? d.knex.raw('select pg_sleep(5)') : undefined;
      await sleep(100);
      // The database goes away; the proxy holds every new connection.
      proxy!.mode = 'hold';
      proxy!.dropAll();
      if (inFlight) await expect(inFlight).rejects.toThrow(/terminated|ended/i);
      await sleep(50);
      expect(states).toEqual(['lost']); // the pool knows before it makes a new attempt
      // Requests wait for new connections; each attempt is held.
      const waiting = Array.from({ length: 5 }, () => d.knex.raw('select 1 as one').then(() => Date.now()));
      await sleep(1000);
      proxy!.mode = 'pass'; // the proxy routes to a live server again
      const back = Date.now();
      const answered = await Promise.all(waiting);
      // One attempt still waits out its full 5 s (held); the others gave up
      // within 500 ms and were retried 100 ms later, past the proxy now.
      for (const at of answered) expect(at - back).toBeLessThan(2000);
    },
  );

  test('a database slow to connect (800 ms, longer than the outage timeout) still gets through while it is known to be down', async () => {
    const d = await open(3000);
    proxy!.mode = 'refuse';
    proxy!.dropAll();
    await expect(d.ping(500)).rejects.toThrow();
    expect(states).toEqual(['lost']);
    // Back, but every new connection takes 800 ms to reach it.
    proxy!.delayMs = 800;
    proxy!.mode = 'pass';
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 5 }, () => d.knex.raw('select 1 as one')));
    expect(results.map((r) => (r as { rows: Array<{ one: number }> }).rows[0]!.one)).toEqual([1, 1, 1, 1, 1]);
    // The full attempt got through after ~800 ms; the outage timeout is now
    // three times that, so the pool grows without failed attempts.
    const more = await Promise.all(
      Array.from({ length: 5 }, () => d.knex.transaction(async (trx) => (await trx.raw('select pg_sleep(0.2)'), 1))),
    );
    expect(more).toEqual([1, 1, 1, 1, 1]);
    expect(Date.now() - started).toBeLessThan(8000);
    await sleep(1100);
    await d.knex.raw('select 1');
    expect(states).toEqual(['lost', 'back']);
  });
});
