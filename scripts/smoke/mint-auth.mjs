// mint-auth ("Authorization and authentication",
// mounted at /mint/api/v1): the seed's three curl examples with only the host
// changed (https://test.goact.co becomes the local server). The sign-up
// example also gets the `Authorization: Application <id>:<secret>` header the
// seed requires and a password long enough for the policy; then the same
// sign-up sent exactly as printed gets the documented errors, each with a
// clear message. Every error body is {"response": "<message>"}.
import { randomBytes } from 'node:crypto';

export const api = 'mint-auth';

const JSON_CT = 'Content-Type: application/json';
const suffix = randomBytes(3).toString('hex');
const PASSWORD = 'correct horse battery';

// The seed's bodies, byte for byte.
const SEED_SIGNIN = '{"grant_type" : "password", "username":"kc@goact.com.au","password":"xyz"}';
const SEED_SIGNUP = '{"grant_type" : "signup", "firstname":"Kate", "lastname":"Smith", "username":"kc@goact.com.au","password":"xyz"}';
const SEED_TOKEN = '2YotnFZFEjr1zCsicMWpAA';
// The sign-up and sign-in with a long-enough password.
const SIGNUP = SEED_SIGNUP.replace('"password":"xyz"', `"password":"${PASSWORD}"`);
const SIGNIN = SEED_SIGNIN.replace('"password":"xyz"', `"password":"${PASSWORD}"`);

const MESSAGES = {
  badCredentials: 'The password does not match, suggest reset?',
  tokenRejected: 'The token has expired or was cancelled, please sign in again',
  applicationRequired: 'Authentication required: Authorization: Application <application id>:<application secret>',
  usernameTaken: 'The username has already existed',
  notFound: 'The requested resource was not found on server',
  methodNotAllowed: 'This method is not allowed on this resource',
};

export async function setup({ admin }) {
  const application = await admin('application', 'create', '--name', `smoke mint-auth ${suffix}`);
  return { application };
}

const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

export async function run({ baseUrl, curl, expect, step, fixtures: f }) {
  const A = `${baseUrl}/mint/api/v1/auth`;
  const APP = `Authorization: Application ${f.application.id}:${f.application.secret}`;
  const status = (res, code) => expect(res.status === code, `expected ${code}, got ${res.status}`);
  const json = (res) => expect(/^application\/json/.test(res.headers['content-type'] ?? ''), `Content-Type is ${res.headers['content-type']}`);
  const mintError = (res, code, message) => {
    status(res, code);
    json(res);
    expect(keys(res.json) === 'response', `body is not {"response": ...}: ${res.body}`);
    if (typeof message === 'string') expect(res.json?.response === message, `response is "${res.json?.response}", expected "${message}"`);
    else if (message) expect(message.test(res.json?.response ?? ''), `response "${res.json?.response}" does not match ${message}`);
  };
  const accessToken = (res) => {
    status(res, 200);
    json(res);
    expect(keys(res.json) === 'access_token,expires_in,token_type,user', `AccessToken keys are ${keys(res.json)}`);
    expect(Number.isInteger(res.json?.user) && res.json.user > 0, `user is ${res.json?.user}`);
    expect(typeof res.json?.access_token === 'string' && res.json.access_token.length >= 20, `access_token is ${res.json?.access_token}`);
    expect(res.json?.token_type === 'user', `token_type is ${res.json?.token_type}`);
    expect(res.json?.expires_in === 3600, `expires_in is ${res.json?.expires_in}, expected the default 3600`);
    expect(res.headers['cache-control'] === 'no-store', `Cache-Control is ${res.headers['cache-control']}`);
    return res.json ?? {};
  };

  // 1. The seed's sign-in example, as printed: "xyz" is not the password of anyone.
  step('seed sign-in example as printed (kc@goact.com.au does not exist yet) → 404 "suggest reset?"');
  let r = await curl('-H', JSON_CT, '-X', 'POST', '-d', SEED_SIGNIN, `${A}/authorize`);
  mintError(r, 404, MESSAGES.badCredentials);

  // 2. The seed's token_info example, as printed: a token never issued.
  step('seed token_info example as printed (a token never issued) → 403');
  r = await curl('-H', JSON_CT, '-H', `Authorization: UserToken ${SEED_TOKEN}`, '-X', 'GET', `${A}/token_info`);
  mintError(r, 403, MESSAGES.tokenRejected);

  // 3. The seed's sign-up example (posted to /auth/authorize as printed) with
  //    the Application header and a long-enough password.
  step('seed sign-up example + Application header + long password → 200 AccessToken');
  r = await curl('-H', JSON_CT, '-H', APP, '-X', 'POST', '-d', SIGNUP, `${A}/authorize`);
  const signedUp = accessToken(r);
  const userId = signedUp.user;

  // 4. The same sign-up exactly as printed: documented errors, clear messages.
  step('seed sign-up example exactly as printed (no Application header) → 401 WWW-Authenticate: Application');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', SEED_SIGNUP, `${A}/authorize`);
  mintError(r, 401, MESSAGES.applicationRequired);
  expect(/^Application/.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('seed sign-up as printed + Application header (password "xyz") → 400 naming the 8-character rule');
  r = await curl('-H', JSON_CT, '-H', APP, '-X', 'POST', '-d', SEED_SIGNUP, `${A}/authorize`);
  mintError(r, 400, /8 characters/);

  step('seed sign-up as printed, to /auth/register, no Application header → 401');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', SEED_SIGNUP, `${A}/register`);
  mintError(r, 401, MESSAGES.applicationRequired);

  step('the same sign-up again (username taken) → 403 "already existed"');
  r = await curl('-H', JSON_CT, '-H', APP, '-X', 'POST', '-d', SIGNUP, `${A}/authorize`);
  mintError(r, 403, MESSAGES.usernameTaken);

  step('the same sign-up to /auth/register (username taken) → 403');
  r = await curl('-H', JSON_CT, '-H', APP, '-X', 'POST', '-d', SIGNUP, `${A}/register`);
  mintError(r, 403, MESSAGES.usernameTaken);

  step('sign-up with a wrong application secret → 401');
  r = await curl('-H', JSON_CT, '-H', `Authorization: Application ${f.application.id}:wrong-secret`, '-X', 'POST', '-d', SIGNUP, `${A}/register`);
  mintError(r, 401, /Application authentication failed/);

  step('sign-up with a malformed Application header → 401');
  r = await curl('-H', JSON_CT, '-H', `Authorization: Application ${f.application.id}`, '-X', 'POST', '-d', SIGNUP, `${A}/register`);
  mintError(r, 401, /Malformed Authorization header/);

  step('POST /auth/register with a new username → 200 AccessToken');
  const other = `kate-${suffix}@example.com`;
  r = await curl('-H', JSON_CT, '-H', APP, '-X', 'POST', '-d', SIGNUP.replace('kc@goact.com.au', other), `${A}/register`);
  const otherUser = accessToken(r).user;
  expect(otherUser !== userId, 'a second sign-up got the same user id');

  // 5. Sign in: the seed's example now that the user exists, then with the real password.
  step('seed sign-in example as printed (the user exists now, wrong password) → the same 404');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', SEED_SIGNIN, `${A}/authorize`);
  mintError(r, 404, MESSAGES.badCredentials);

  step('seed sign-in example with the real password → 200, the same user');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', SIGNIN, `${A}/authorize`);
  const signedIn = accessToken(r);
  expect(signedIn.user === userId, `user is ${signedIn.user}, expected ${userId}`);
  expect(signedIn.access_token !== signedUp.access_token, 'sign-in returned the sign-up token again');

  step('sign-in with a missing password → 400');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', '{"grant_type" : "password", "username":"kc@goact.com.au"}', `${A}/authorize`);
  mintError(r, 400, /password/);

  step('sign-in with malformed JSON → 400');
  r = await curl('-H', JSON_CT, '-X', 'POST', '-d', '{"grant_type" :', `${A}/authorize`);
  mintError(r, 400);

  // 6. token_info with real tokens.
  for (const [label, token] of [['sign-up', signedUp.access_token], ['sign-in', signedIn.access_token]]) {
    step(`seed token_info example with the ${label} token → 200 {user, token_type}`);
    r = await curl('-H', JSON_CT, '-H', `Authorization: UserToken ${token}`, '-X', 'GET', `${A}/token_info`);
    status(r, 200);
    json(r);
    expect(keys(r.json) === 'token_type,user' && r.json.user === userId && r.json.token_type === 'user', `body is ${r.body}`);
  }

  step('token_info without a token → 401 WWW-Authenticate: UserToken');
  r = await curl('-X', 'GET', `${A}/token_info`);
  mintError(r, 401);
  expect(/^UserToken/.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('token_info with a mint token as Bearer (wrong scheme) → 401');
  r = await curl('-H', `Authorization: Bearer ${signedIn.access_token}`, `${A}/token_info`);
  mintError(r, 401);

  // 7. The dialect covers what the seed does not list.
  step('an unknown path under the mount → 404 "not found on server"');
  r = await curl(`${A}/nope`);
  mintError(r, 404, MESSAGES.notFound);

  step('GET /auth/authorize (wrong method) → 405');
  r = await curl(`${A}/authorize`);
  mintError(r, 405, MESSAGES.methodNotAllowed);

  step('a mint token is refused by mts-auth → 401');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${signedIn.access_token}`);
  status(r, 401);
}
