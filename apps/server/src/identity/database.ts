// What the layers above identity/ may know of the database, so that only
// identity/ imports the store: whether it can serve (outages answer 503),
// each request's deadline for its database work, and whether the schema is
// current (/readyz). Everything else goes through a use-case.
export { DeadlineExceededError, isConnectionError, migrationsCurrent, RequestBudget, runWithBudget } from '@polyauth/store';
