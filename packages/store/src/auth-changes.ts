import pg from 'pg';
import { AUTH_CHANGED_CHANNEL } from './migrations/20261123190000_auth_change_notify.ts';

export { AUTH_CHANGED_CHANNEL };

/** What a cache of token liveness hears from the database. */
export interface AuthChangeListener {
  /** A committed change ended (or may have ended) the life of tokens of this user; '*' = of anyone. */
  changed(userId: string): void;
  /** Delivery of every change became guaranteed (true) or stopped being so (false). */
  live(on: boolean): void;
}

/**
 * The database's NOTIFY polyauth_auth_changed (sent by triggers on tokens and
 * users, see the migration) fanned out to in-process listeners. `live` is true
 * only while no committed change can be missed: a listener must not trust
 * what it cached while it is false.
 */
export class AuthChanges {
  readonly #listeners = new Set<AuthChangeListener>();
  #live = false;
  #onFirstSubscribe: (() => void) | undefined;
  readonly #open: () => boolean;

  /**
   * @param opts.onFirstSubscribe starts listening (lazily: a CLI run never needs it)
   * @param opts.open false once the database was closed under us
   */
  constructor(opts: { onFirstSubscribe?: () => void; open?: () => boolean } = {}) {
    this.#onFirstSubscribe = opts.onFirstSubscribe;
    this.#open = opts.open ?? (() => true);
  }

  get live(): boolean {
    return this.#live && this.#open();
  }

  subscribe(listener: AuthChangeListener): () => void {
    this.#listeners.add(listener);
    const start = this.#onFirstSubscribe;
    this.#onFirstSubscribe = undefined;
    start?.();
    return () => this.#listeners.delete(listener);
  }

  /** @internal a notification's payload. */
  emit(payload: string | undefined): void {
    const userId = payload || '*';
    for (const l of this.#listeners) l.changed(userId);
  }

  /** @internal */
  setLive(on: boolean): void {
    if (on === this.#live) return;
    this.#live = on;
    for (const l of this.#listeners) l.live(on);
  }
}

const LISTEN = `LISTEN ${AUTH_CHANGED_CHANNEL}`;

/** Makes a pg connection deliver the channel's notifications to `changes`. */
export function listenOn(client: pg.Client, changes: AuthChanges, done: (err: Error | null) => void): void {
  client.on('notification', (n) => {
    if (n.channel === AUTH_CHANGED_CHANNEL) changes.emit(n.payload);
  });
  client.query(LISTEN).then(
    () => done(null),
    (err: Error) => done(err),
  );
}

export interface ListenerOptions {
  url: string;
  /** Time between liveness checks of the listening connection. */
  heartbeatMs?: number;
  maxBackoffMs?: number;
}

/**
 * One dedicated connection that LISTENs for changes committed by other
 * processes (other server instances, the admin CLI). `changes` is live only
 * while it is connected and listening; on any error it reconnects with
 * backoff, and the cache starts over empty (what was missed is unknown).
 */
export function startDedicatedListener(changes: AuthChanges, opts: ListenerOptions): { stop(): Promise<void> } {
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff = 100;

  const schedule = (fn: () => void, ms: number) => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(fn, ms);
    timer.unref();
  };

  const down = (c: pg.Client) => {
    if (c !== client) return;
    client = undefined;
    changes.setLive(false);
    c.removeAllListeners('notification');
    c.on('error', () => undefined); // a late socket error on a dropped client
    c.end().catch(() => undefined);
    schedule(connect, backoff);
    backoff = Math.min(backoff * 2, maxBackoff);
  };

  const heartbeat = (c: pg.Client) => {
    schedule(() => {
      if (c !== client) return;
      c.query('select 1').then(
        () => heartbeat(c),
        () => down(c),
      );
    }, heartbeatMs);
  };

  const connect = () => {
    if (stopped) return;
    const c = new pg.Client({
      connectionString: opts.url,
      connectionTimeoutMillis: 3000,
      query_timeout: 3000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      application_name: 'polyauth-auth-changes',
    });
    client = c;
    c.on('error', () => down(c));
    c.on('end', () => down(c));
    c.connect()
      .then(
        () =>
          new Promise<void>((resolve, reject) => {
            if (c !== client) return resolve();
            listenOn(c, changes, (err) => (err ? reject(err) : resolve()));
          }),
      )
      .then(
        () => {
          if (c !== client || stopped) return;
          backoff = 100;
          changes.setLive(true);
          heartbeat(c);
        },
        () => down(c),
      );
  };

  connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      changes.setLive(false);
      if (c) {
        c.removeAllListeners('end');
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}
