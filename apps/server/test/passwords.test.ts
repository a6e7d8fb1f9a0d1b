// The password pool at shutdown: a check the shutdown deadline cuts off is
// "the server is stopping", answered 503 with Retry-After and logged as a
// failed request at warn, not a 500 with a worker's stack.
import { expect, test } from '@jest/globals';
import { toApiError } from '../src/http/to-api-error.ts';
import { PasswordHasher, ServerStoppingError } from '../src/identity/passwords.ts';

test('a compare still running when the pool closes, and any after, is ServerStoppingError: 503, not internal', async () => {
  const hasher = new PasswordHasher({ cost: 4, poolSize: 1 });
  // a well-formed cost-15 hash: seconds of work, whatever it holds
  const slow = `$2b$15$${'a'.repeat(53)}`;
  expect(await hasher.compare('x', `$2b$04$${'a'.repeat(53)}`)).toBe(false); // the worker is up
  const running = hasher.compare('x', slow);
  const closed = hasher.close();
  await expect(running).rejects.toBeInstanceOf(ServerStoppingError);
  await closed;
  await expect(hasher.hash('after')).rejects.toBeInstanceOf(ServerStoppingError);

  const { error, internal, unavailable } = toApiError(new ServerStoppingError());
  expect(error.status).toBe(503);
  expect(error.kind).toBe('service_unavailable');
  expect(error.headers).toMatchObject({ 'Retry-After': '1' });
  expect(internal).toBe(false);
  expect(unavailable).toBe('the server is stopping');
});
