import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/**
 * Counts API handlers still running. A client that hangs up closes its
 * socket before the handler ends (a login may still be in bcrypt), so the
 * server's `close` callback alone cannot tell when the worker pool and the
 * database may be closed; a graceful stop waits for this count to reach 0.
 */
export class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];

  get count(): number {
    return this.#count;
  }

  /** Marks a handler as started; call the returned function once it ends. */
  start(): () => void {
    this.#count += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#count -= 1;
      if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  /** True once nothing is in flight; false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(wake);
    });
  }
}

/** The app's tracker (set by createApp), if any. */
export function inFlightOf(app: { locals: object }): InFlight | undefined {
  const t: unknown = (app.locals as { inFlight?: unknown }).inFlight;
  return t instanceof InFlight ? t : undefined;
}

interface SocketState {
  /** Requests read on it and not yet answered. */
  active: number;
  /** When it last became idle (ms, performance.now()). */
  idleSince: number;
  /** socket.bytesRead then: more read since = a request is arriving. */
  bytesAtIdle: number;
}

/**
 * A socket idle (between requests) for this long while draining is closed.
 * Long enough for a client on a loaded machine to send its next request on
 * a connection it just got an answer on; short enough that a stop with idle
 * keep-alive clients still ends about a second after the last answer.
 */
export const IDLE_GRACE_MS = 1_000;

export interface Drainer {
  /** Stops accepting and answers what was read; true when every connection closed by `deadline` (performance.now() ms). */
  drain(deadline: number): Promise<boolean>;
  /** Connections open now. */
  readonly connections: number;
}

/**
 * Graceful stop of an HTTP/1.1 server with keep-alive clients. `drain`
 * closes the listening socket at once; every response not yet started,
 * and every request read from then on, carries `Connection: close`, so a
 * busy keep-alive connection ends after its next answer and its client
 * knows not to send on it again. An idle connection (between requests:
 * no request open, no byte read since the last answer) is closed once it
 * has been idle for IDLE_GRACE_MS: a busy client sends its next request
 * well within that and gets an answer instead of a reset. A request whose
 * first bytes were read is always answered. At the deadline whatever is
 * left is closed.
 *
 * Call before the server accepts its first connection.
 */
export function trackConnections(server: Server): Drainer {
  const sockets = new Map<Socket, SocketState>();
  const open = new Set<ServerResponse>();
  let draining = false;

  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { active: 0, idleSince: performance.now(), bytesAtIdle: 0 });
    socket.once('close', () => sockets.delete(socket));
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = sockets.get(req.socket);
    if (state) state.active += 1;
    if (draining) res.setHeader('Connection', 'close');
    open.add(res);
    res.once('close', () => {
      open.delete(res);
      if (!state) return;
      state.active -= 1;
      state.idleSince = performance.now();
      state.bytesAtIdle = req.socket.bytesRead;
    });
  });

  const idle = (socket: Socket, state: SocketState) => state.active === 0 && socket.bytesRead === state.bytesAtIdle;
  const sweep = (now: number) => {
    const due: Socket[] = [];
    for (const [socket, state] of sockets) if (idle(socket, state) && now - state.idleSince >= IDLE_GRACE_MS) due.push(socket);
    if (due.length === 0) return;
    // Closed after this turn's I/O has been read (setImmediate runs after the
    // poll phase): a request whose bytes reached the kernel while this
    // process was busy is read and answered, not reset with the socket.
    setImmediate(() => {
      for (const socket of due) {
        const state = sockets.get(socket);
        if (state && idle(socket, state)) socket.destroy();
      }
    });
  };

  return {
    get connections() {
      return sockets.size;
    },
    drain(deadline: number): Promise<boolean> {
      draining = true;
      for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
      return new Promise((resolve) => {
        let done = false;
        const finish = (ok: boolean) => {
          if (done) return;
          done = true;
          clearInterval(timer);
          resolve(ok);
        };
        // net.Server's close, not http.Server's: that one closes every idle
        // keep-alive socket at once, racing the requests clients are sending.
        NetServer.prototype.close.call(server, () => finish(true));
        const timer = setInterval(() => {
          const now = performance.now();
          if (now >= deadline) {
            for (const socket of sockets.keys()) socket.destroy();
            finish(sockets.size === 0 && open.size === 0);
            return;
          }
          sweep(now);
        }, 20);
        sweep(performance.now());
      });
    },
  };
}
