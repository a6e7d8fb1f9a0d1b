/**
 * Every way a use-case of identity/ can refuse, whatever the API asking.
 * Each API's error dialect (apis/<api>/dialect.ts) maps every kind to its
 * own status, code and words, exhaustively: a kind added here is a compile
 * error in every dialect until each says how it answers it.
 */
export type IdentityProblem =
  /** Registration: the username or the email is someone's already (case-insensitively). */
  | { kind: 'identifier_taken'; field: 'username' | 'email' }
  /** A domain of that name exists (case-insensitively). */
  | { kind: 'domain_name_taken' }
  /** The password breaks the policy (length, bcrypt's 72 bytes); the message says which rule. */
  | { kind: 'weak_password' }
  /** A login, registration or mail limit is spent; try again after `retryAfter` seconds. */
  | { kind: 'throttled'; retryAfter: number }
  /** Unknown user, wrong password or disabled account: one answer for all three. */
  | { kind: 'invalid_credentials' }
  /** The password matched but the TOTP code is missing, wrong or used (auth-v3 only asks for one). */
  | { kind: 'second_factor' }
  /** The caller is signed in but may not do this (someone else's record, a domain not theirs). */
  | { kind: 'forbidden' }
  /** No such user, domain or membership that the caller may see. */
  | { kind: 'not_found' }
  /** A mailed link that is unknown, expired or already used. */
  | { kind: 'dead_link' };

export type IdentityErrorKind = IdentityProblem['kind'];

/** The problem of one kind, with its fields. */
export type ProblemOf<K extends IdentityErrorKind> = Extract<IdentityProblem, { kind: K }>;

/**
 * A use-case's refusal: an expected answer, not a bug, so no stack trace is
 * captured. The message is plain English fit to show a user; a dialect may
 * use it or say it in its API's own words.
 */
export class IdentityError extends Error {
  override name = 'IdentityError';
  readonly problem: IdentityProblem;

  constructor(problem: IdentityProblem, message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.problem = problem;
  }

  get kind(): IdentityErrorKind {
    return this.problem.kind;
  }

  /** The login, registration or mail limit is spent. */
  static throttled(retryAfter: number): IdentityError {
    return new IdentityError({ kind: 'throttled', retryAfter }, 'Too many attempts; try again later.');
  }

  static weakPassword(message: string): IdentityError {
    return new IdentityError({ kind: 'weak_password' }, message);
  }

  static identifierTaken(field: 'username' | 'email'): IdentityError {
    return new IdentityError({ kind: 'identifier_taken', field }, `That ${field} is already registered.`);
  }

  static invalidCredentials(): IdentityError {
    return new IdentityError({ kind: 'invalid_credentials' }, 'The username or password is incorrect.');
  }

  static secondFactor(): IdentityError {
    return new IdentityError({ kind: 'second_factor' }, 'The two-factor code is missing, wrong or already used.');
  }

  static forbidden(message: string): IdentityError {
    return new IdentityError({ kind: 'forbidden' }, message);
  }

  static notFound(message: string): IdentityError {
    return new IdentityError({ kind: 'not_found' }, message);
  }

  static deadLink(): IdentityError {
    return new IdentityError({ kind: 'dead_link' }, 'The link is unknown, expired or already used.');
  }
}
