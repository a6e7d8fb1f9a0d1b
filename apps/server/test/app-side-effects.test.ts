// createApp changes nothing outside the app it returns: it leaves the
// validator's dependencies as they ship (no patched path-to-regexp), and it
// does not call url.parse() (settling Node's DEP0169 warning is serve.ts's,
// process-wide).
import { createRequire } from 'node:module';
import url from 'node:url';
import { afterAll, describe, expect, jest, test } from '@jest/globals';
import { startServer, type TestServer } from './harness.ts';

const requireFromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
const pathToRegexpModule = requireFromValidator('path-to-regexp') as { pathToRegexp: unknown };

let srv: TestServer | undefined;
afterAll(async () => {
  await srv?.close();
});

describe('createApp has no process-wide side effects', () => {
  test('no url.parse() call and no patched path-to-regexp, before and after serving requests', async () => {
    const shipped = pathToRegexpModule.pathToRegexp;
    const parse = jest.spyOn(url, 'parse');
    try {
      srv = await startServer();
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    expect(pathToRegexpModule.pathToRegexp).toBe(shipped);
    const r = await fetch(`${srv.baseUrl}/mint/api/v1/no/such/path`);
    expect(r.status).toBe(404);
    expect(pathToRegexpModule.pathToRegexp).toBe(shipped);
  });
});
