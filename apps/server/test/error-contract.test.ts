// Error bodies are checked against the spec in tests like every other
// response (http/error-contract.ts, run by every API router when
// VALIDATE_RESPONSES is on): what it lets through and what it refuses.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { errorContract } from '../src/http/error-contract.ts';
import { specPath } from '../src/paths.ts';

const contractOf = (api: string) => errorContract(parseYaml(readFileSync(specPath(api), 'utf8')) as Record<string, unknown>);

describe('error bodies against the spec', () => {
  const mts = contractOf('mts-auth');
  const v3 = contractOf('auth-v3');

  test("a matched operation's error must be the body its spec declares for the status", () => {
    expect(mts('getUser', 403, { code: 403, error: 'forbidden', error_description: 'You may only access your own user record.' })).toBeUndefined();
    // a misspelt code reaches no client
    expect(mts('getUser', 403, { code: 403, error: 'forbiden', error_description: 'x' })).toMatch(/getUser does not match the spec/);
    // POST /user's 406 is the bare message, a JSON string; the object form is not its contract
    expect(mts('createUser', 406, 'That email address is already registered.')).toBeUndefined();
    expect(mts('createUser', 406, { code: 406, error: 'not_acceptable', error_description: 'x' })).toMatch(/406 body of createUser/);
    expect(v3('loginPost', 401, { errorCode: 'AuthInvalidCredentials', errorDescription: 'The user name or password is wrong.' })).toBeUndefined();
    expect(v3('loginPost', 401, { errorCode: 'AuthInvalidCredentials', errorDescription: 'x', stack: 'at ...' })).toBeDefined();
  });

  test('an error without an operation (unknown path, failure before the match) must be one of the dialect\'s bodies', () => {
    expect(mts(undefined, 404, { code: 404, error: 'not_found', error_description: 'There is no such resource.' })).toBeUndefined();
    expect(v3(undefined, 405, { errorCode: 'MethodNotAllowed', errorDescription: 'That method is not allowed on this resource.' })).toBeUndefined();
    expect(v3(undefined, 404, { error: 'not_found', message: 'another API\'s dialect' })).toMatch(/does not match the spec/);
  });
});
