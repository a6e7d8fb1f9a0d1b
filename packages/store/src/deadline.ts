import { AsyncLocalStorage } from 'node:async_hooks';
import type { Knex } from 'knex';

/**
 * A request's deadline as the database sees it. Until the request sends its
 * first write, it may be cut at the deadline: a wait for a pooled connection
 * ends then (DeadlineExceededError), and once cut it gets no connection any
 * more, so nothing it does afterwards reaches the database. Once it has sent
 * a write (any statement but a SELECT or SHOW, a transaction's BEGIN
 * included), it is carried through to its end, so that a write that commits
 * is never answered as failed: each further statement is then bounded by the
 * pool's acquire timeout and the statement and lock timeouts instead.
 * Bookkeeping writes (login throttle counters, the audit log) do not count:
 * they are not the outcome a client is told about, and a request that has
 * only counted an attempt may still be cut.
 */
export class RequestBudget {
  readonly deadline: number;
  #wrote = false;
  #cut = false;

  constructor(deadline: number) {
    this.deadline = deadline;
  }

  /** The request sent a write: it is never cut any more. */
  get wrote(): boolean {
    return this.#wrote;
  }

  /** The request was cut at its deadline: no connection is handed to it any more. */
  get cut(): boolean {
    return this.#cut;
  }

  /**
   * Called at the deadline: cuts the request unless it has written, and says
   * whether it did. A read it is running goes on, unheard; everything after
   * it is refused a connection. (A connection handed out is used for its
   * statement before any timer can run: a write cannot slip in between.)
   */
  cutNow(): boolean {
    if (this.#wrote) return false;
    this.#cut = true;
    return true;
  }

  /** @internal */
  markWrite(): void {
    this.#wrote = true;
  }
}

/** A request ran out of time before it wrote anything: answer 503, nothing was changed. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  readonly code = 'POLYAUTH_DEADLINE';
  constructor() {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // an expected answer, not a bug
    super('the request deadline passed before a database connection was free');
    Error.stackTraceLimit = limit;
  }
}

const budgets = new AsyncLocalStorage<RequestBudget>();

/** Runs `fn` (a request's handler) under `budget`: its database work is tracked against it. */
export function runWithBudget<T>(budget: RequestBudget, fn: () => T): T {
  return budgets.run(budget, fn);
}

/**
 * Runs `fn` outside every request's budget. Background work started from a
 * request (a write-behind timer, a schedule) would otherwise inherit that
 * request's deadline, long passed when the work runs.
 */
export function outsideRequest<T>(fn: () => T): T {
  return budgets.exit(fn);
}

const READ = /^\s*(select|show)\b/i;
const BOOKKEEPING = /^\s*(insert\s+into|update|delete\s+from)\s+"?(throttle|audit_log)"?[\s(]/i;
interface KnexClientInternals {
  acquireConnection(): Promise<object>;
  releaseConnection(conn: object): Promise<void>;
}

/**
 * Makes `knex` honour request budgets (see RequestBudget): the waits for a
 * pooled connection of a request that has not written end at its deadline,
 * a request cut gets no connection, and its writes are noted.
 */
export function enforceBudgets(knex: Knex): void {
  const client = knex.client as unknown as KnexClientInternals;
  const acquire = client.acquireConnection.bind(client);
  const release = client.releaseConnection.bind(client);

  client.acquireConnection = async function acquireConnection(): Promise<object> {
    const budget = budgets.getStore();
    if (!budget) return acquire();
    if (budget.cut) throw new DeadlineExceededError();
    if (budget.wrote) return acquire();
    const left = budget.deadline - Date.now();
    if (left <= 0) throw new DeadlineExceededError();
    return new Promise<object>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new DeadlineExceededError());
      }, left);
      acquire().then(
        (conn) => {
          clearTimeout(timer);
          if (late || budget.cut) {
            void release(conn); // the request gave up waiting: back to the pool unused
            if (!late) reject(new DeadlineExceededError());
          } else {
            resolve(conn);
          }
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!late) reject(err as Error);
        },
      );
    });
  };

  // Emitted just before a statement is sent, in the caller's async context.
  knex.on('query', (q: { sql?: string }) => {
    const budget = budgets.getStore();
    if (!budget || budget.wrote) return;
    const sql = q.sql ?? '';
    if (!READ.test(sql) && !BOOKKEEPING.test(sql)) budget.markWrite();
  });
}
