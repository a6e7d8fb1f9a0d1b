// user-token-auth ("Authentication API",
// mounted at /auth): the seed's login / bump / logout examples with curl.
// Every response, errors included, carries `Vary: Accept` and a JSON body;
// errors are {"error": "<code>", "message": "..."}. The user is registered
// through mts-auth (POST /user): one identity, the same email and password.
import { randomBytes } from 'node:crypto';

export const api = 'user-token-auth';

const suffix = randomBytes(3).toString('hex');
const JSON_CT = 'Content-Type: application/json';
const ACCEPT = 'Accept: application/json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

export async function run({ baseUrl, curl, expect, step }) {
  const A = `${baseUrl}/auth`;
  const email = `smoke.uta-${suffix}@example.com`;
  const password = 'correct horse battery';
  const basic = `${email}:${password}`;

  const status = (res, code) => expect(res.status === code, `expected ${code}, got ${res.status}`);
  const common = (res) => {
    expect(/(^|,\s*)Accept(\s*,|$)/i.test(res.headers.vary ?? ''), `Vary is ${res.headers.vary}`);
    expect(/^application\/json/.test(res.headers['content-type'] ?? ''), `Content-Type is ${res.headers['content-type']}`);
    expect(res.json !== undefined, `the body is not JSON: ${res.body}`);
  };
  const ok = (res) => {
    status(res, 200);
    common(res);
  };
  const error = (res, code, error) => {
    status(res, code);
    common(res);
    expect(keys(res.json) === 'error,message', `body is not {error, message}: ${res.body}`);
    expect(res.json?.error === error, `error is ${res.json?.error}, expected ${error}`);
  };
  const userToken = (res) => {
    ok(res);
    expect(res.headers['cache-control'] === 'no-store', `Cache-Control is ${res.headers['cache-control']}`);
    const t = res.json ?? {};
    expect(UUID.test(t.token ?? ''), `token is ${t.token}, expected a UUID`);
    expect(t.enabled === true, `enabled is ${t.enabled}`);
    expect(ISO_UTC.test(t.creationTime ?? ''), `creationTime is ${t.creationTime}`);
    expect(t.version === 0, `version is ${t.version}`);
    return t;
  };

  // 0. A user, registered through mts-auth.
  step('setup: register a user through mts-auth POST /user → 201');
  let r = await curl('-X', 'POST', `${baseUrl}/user`, '-H', 'Content-Type: application/x-www-form-urlencoded',
    '--data-urlencode', 'firstName=Smoke', '--data-urlencode', 'lastName=Test',
    '--data-urlencode', `email=${email}`, '--data-urlencode', `password=${password}`);
  status(r, 201);

  // 1. Seed example 1: Basic, no body.
  step('POST /auth/login, Basic, no body (seed example 1) → 200 UserToken');
  r = await curl('-X', 'POST', `${A}/login`, '-H', ACCEPT, '-u', basic);
  const first = userToken(r);
  expect(keys(first) === 'creationTime,enabled,token,version', `UserToken keys are ${keys(first)} (no note, no expirationTime by default)`);
  const token = first.token;

  // 2. Seed example 2: note and expirationTime (a future one).
  step('POST /auth/login with note and a future expirationTime (seed example 2) → 200');
  r = await curl('-X', 'POST', `${A}/login`, '-H', ACCEPT, '-H', JSON_CT, '-u', basic,
    '-d', '{"note":"Client API Access","expirationTime":"2099-07-29T23:59:59-05:00"}');
  const second = userToken(r);
  expect(second.note === 'Client API Access', `note is ${second.note}`);
  expect(second.expirationTime === '2099-07-30T04:59:59.000Z', `expirationTime is ${second.expirationTime}`);
  expect(second.token !== token, 'the second login returned the same token');

  step("POST /auth/login with the seed's literal (past) expirationTime → 400 bad_request");
  r = await curl('-X', 'POST', `${A}/login`, '-H', JSON_CT, '-u', basic,
    '-d', '{"note":"Client API Access","expirationTime":"2019-07-29T23:59:59-05:00"}');
  error(r, 400, 'bad_request');
  expect(/future/.test(r.json?.message ?? ''), `message does not say "future": ${r.json?.message}`);

  // 3. Seed example 3: bump.
  step('POST /auth/bump with the token (seed example 3) → 200 {lastLoginTime}');
  r = await curl('-X', 'POST', `${A}/bump`, '-H', ACCEPT, '-H', `Authorization: Bearer ${token}`);
  ok(r);
  expect(keys(r.json) === 'lastLoginTime' && ISO_UTC.test(r.json.lastLoginTime), `body is ${r.body}`);

  // Content negotiation.
  step('POST /auth/login with Accept: text/html → 406 not_acceptable, Vary: Accept');
  r = await curl('-X', 'POST', `${A}/login`, '-H', 'Accept: text/html', '-u', basic);
  error(r, 406, 'not_acceptable');

  step('POST /auth/bump with Accept: text/html → 406 not_acceptable');
  r = await curl('-X', 'POST', `${A}/bump`, '-H', 'Accept: text/html', '-H', `Authorization: Bearer ${token}`);
  error(r, 406, 'not_acceptable');

  step('POST /auth/login with Accept: */* → 200');
  r = await curl('-X', 'POST', `${A}/login`, '-H', 'Accept: */*', '-u', basic);
  userToken(r);

  step('POST /auth/login with no Accept header → 200');
  r = await curl('-X', 'POST', `${A}/login`, '-H', 'Accept:', '-u', basic);
  userToken(r);

  // Refusals.
  step('POST /auth/login with a wrong password → 401 invalid_credentials, WWW-Authenticate: Basic');
  r = await curl('-X', 'POST', `${A}/login`, '-u', `${email}:wrong password`);
  error(r, 401, 'invalid_credentials');
  expect(r.headers['www-authenticate'] === 'Basic realm="polyauth", charset="UTF-8"', `WWW-Authenticate is ${r.headers['www-authenticate']}`);
  const wrongPasswordBody = r.body;

  step('POST /auth/login for an unknown user → the same 401');
  r = await curl('-X', 'POST', `${A}/login`, '-u', `nobody-${suffix}@example.com:wrong password`);
  error(r, 401, 'invalid_credentials');
  expect(r.body === wrongPasswordBody, `the body differs from the wrong-password one: ${r.body}`);

  step('POST /auth/login without Authorization → 401 invalid_credentials');
  r = await curl('-X', 'POST', `${A}/login`);
  error(r, 401, 'invalid_credentials');
  expect(/^Basic /.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('POST /auth/login with a malformed Basic header → 401 invalid_credentials');
  r = await curl('-X', 'POST', `${A}/login`, '-H', 'Authorization: Basic !!!');
  error(r, 401, 'invalid_credentials');

  step('POST /auth/bump without a token → 401 invalid_token, WWW-Authenticate: Bearer');
  r = await curl('-X', 'POST', `${A}/bump`);
  error(r, 401, 'invalid_token');
  expect(r.headers['www-authenticate'] === 'Bearer realm="polyauth"', `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('POST /auth/bump with an unknown token → 401 invalid_token');
  r = await curl('-X', 'POST', `${A}/bump`, '-H', 'Authorization: Bearer nope');
  error(r, 401, 'invalid_token');

  // Bad bodies.
  step('POST /auth/login with malformed JSON → 400 bad_request');
  r = await curl('-X', 'POST', `${A}/login`, '-u', basic, '-H', JSON_CT, '-d', '{"note":');
  error(r, 400, 'bad_request');

  step('POST /auth/login with expirationTime "tomorrow" → 400 bad_request');
  r = await curl('-X', 'POST', `${A}/login`, '-u', basic, '-H', JSON_CT, '-d', '{"expirationTime":"tomorrow"}');
  error(r, 400, 'bad_request');

  step('POST /auth/login with Content-Type: text/plain → 415 unsupported_media_type');
  r = await curl('-X', 'POST', `${A}/login`, '-u', basic, '-H', 'Content-Type: text/plain', '-d', 'x');
  error(r, 415, 'unsupported_media_type');

  // Tokens are scoped to the API that issued them.
  step('a user-token-auth token is refused by mts-auth GET /user → 401');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${token}`);
  status(r, 401);

  // 4. Seed example 4: logout, then reuse.
  step('POST /auth/logout with the token (seed example 4) → 200 {success: true}');
  r = await curl('-X', 'POST', `${A}/logout`, '-H', ACCEPT, '-H', `Authorization: Bearer ${token}`);
  ok(r);
  expect(keys(r.json) === 'success' && r.json.success === true, `body is ${r.body}`);

  step('POST /auth/bump with the logged-out token → 401 invalid_token, error="invalid_token"');
  r = await curl('-X', 'POST', `${A}/bump`, '-H', `Authorization: Bearer ${token}`);
  error(r, 401, 'invalid_token');
  expect(r.headers['www-authenticate'] === 'Bearer realm="polyauth", error="invalid_token"', `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('POST /auth/logout with the logged-out token → 401 invalid_token');
  r = await curl('-X', 'POST', `${A}/logout`, '-H', `Authorization: Bearer ${token}`);
  error(r, 401, 'invalid_token');

  step('the other token of the user still works → POST /auth/bump 200');
  r = await curl('-X', 'POST', `${A}/bump`, '-H', `Authorization: Bearer ${second.token}`);
  ok(r);

  // Unknown path / method.
  step('an unknown path under /auth → 404 not_found');
  r = await curl(`${A}/nope`);
  error(r, 404, 'not_found');

  step('GET /auth/login (wrong method) → 405 method_not_allowed');
  r = await curl(`${A}/login`);
  error(r, 405, 'method_not_allowed');
}
