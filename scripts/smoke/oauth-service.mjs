// oauth-service ("Auth", mounted at /api/oauth):
// register (the seed's GET, served with a query string, and POST JSON/form),
// token (refresh_token grant, and the password grant extension), revoke,
// reset_password (+ the confirm extension, with the token read from the mail
// in the server's outbox), send_email_link + valid_email (HEAD does not
// consume the link, GET redirects 301 once, then 404). Every error body is
// {"error": "<code>", "message": "..."}.
//
// Not played: register with REGISTRATION_ENABLED=false (500
// registration_disabled) needs a server started with another setting.
import { randomBytes } from 'node:crypto';

export const api = 'oauth-service';

const JSON_CT = 'Content-Type: application/json';
const suffix = randomBytes(3).toString('hex');
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

export async function setup({ admin }) {
  const client = await admin('client', 'create', '--name', `smoke oauth-service ${suffix}`);
  return { client };
}

const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

export async function run({ baseUrl, curl, expect, step, fixtures: f, outbox }) {
  const B = `${baseUrl}/api/oauth`;
  const CLIENT = f.client.id;
  const SECRET = f.client.secret;
  const BASIC = `${CLIENT}:${SECRET}`;
  const U = `smoke${suffix}`;
  const E = `${U}@example.com`;
  const P = 'correct horse battery';
  const P2 = 'a new password';

  const status = (res, code) => expect(res.status === code, `expected ${code}, got ${res.status}`);
  const json = (res) => expect(/^application\/json/.test(res.headers['content-type'] ?? ''), `Content-Type is ${res.headers['content-type']}`);
  const error = (res, code, error) => {
    status(res, code);
    json(res);
    expect(keys(res.json) === 'error,message', `body is not {error, message}: ${res.body}`);
    if (error) expect(res.json?.error === error, `error is ${res.json?.error}, expected ${error}`);
  };
  const success = (res) => {
    status(res, 200);
    json(res);
    expect(keys(res.json) === 'success' && res.json.success === true, `body is ${res.body}, expected {"success":true}`);
  };
  const registered = (res, username, email) => {
    status(res, 200);
    json(res);
    const b = res.json ?? {};
    expect(keys(b) === 'access_token,refreshToken,user', `register keys are ${keys(b)}`);
    expect(b.user?.username === username && b.user?.email === email, `user is ${JSON.stringify(b.user)}`);
    expect(b.user?.email_verified === false, `email_verified is ${b.user?.email_verified}`);
    expect(ISO_UTC.test(b.user?.created_at ?? ''), `created_at is ${b.user?.created_at}`);
    expect(typeof b.access_token === 'string' && typeof b.refreshToken === 'string', `no tokens in ${res.body}`);
    expect(res.headers['cache-control'] === 'no-store', `Cache-Control is ${res.headers['cache-control']}`);
    return b;
  };
  const tokens = (res) => {
    status(res, 200);
    json(res);
    const b = res.json ?? {};
    expect(keys(b) === 'access_token,expire_at,expires_in,refresh_token,token_type', `TokenResponse keys are ${keys(b)}`);
    expect(b.token_type === 'Bearer', `token_type is ${b.token_type}`);
    expect(Number.isInteger(b.expires_in) && b.expires_in > 0, `expires_in is ${b.expires_in}`);
    expect(ISO_UTC.test(b.expire_at ?? '') && Date.parse(b.expire_at) > Date.now(), `expire_at is ${b.expire_at}`);
    expect(res.headers['cache-control'] === 'no-store', `Cache-Control is ${res.headers['cache-control']}`);
    return b;
  };
  const registerJson = (fields) =>
    curl('-X', 'POST', `${B}/register`, '-H', JSON_CT, '-d', JSON.stringify(fields));
  const refresh = (rt) =>
    curl(`${B}/token`, '-d', 'grant_type=refresh_token', '-d', `client_id=${CLIENT}`, '--data-urlencode', `refresh_token=${rt}`);
  // The smoke client has a secret: its password grant authenticates (client_secret_basic).
  const passwordGrant = (username, password) =>
    curl(`${B}/token`, '-u', BASIC, '-H', JSON_CT, '-d', JSON.stringify({ grant_type: 'password', username, password }));

  // ---------------------------------------------------------------- register
  step('POST /register (JSON) → 200 {user, access_token, refreshToken}');
  let r = await registerJson({ username: U, email: E, password: P, role: 'Translator', company: 'ACME', accept_terms: 1 });
  const reg = registered(r, U, E);
  expect(reg.user?.role === 'Translator' && reg.user?.company === 'ACME', `role/company are ${reg.user?.role}/${reg.user?.company}`);
  const AT = reg.access_token;
  const RT = reg.refreshToken;

  step('POST /register with the same username and email → 409 conflict');
  r = await registerJson({ username: U, email: E, password: P, role: 'Translator', company: 'ACME', accept_terms: 1 });
  error(r, 409, 'conflict');

  step('GET /register with a JSON body (the seed\'s method and example) → 200');
  r = await curl('-X', 'GET', `${B}/register`, '-H', JSON_CT,
    '-d', JSON.stringify({ username: `${U}b`, email: `b${E}`, password: P, accept_terms: 1 }));
  registered(r, `${U}b`, `b${E}`);

  step('GET /register with a form body → 200');
  r = await curl('-X', 'GET', `${B}/register`, '--data-urlencode', `username=${U}g`, '--data-urlencode', `email=g${E}`,
    '--data-urlencode', `password=${P}`, '-d', 'accept_terms=1');
  registered(r, `${U}g`, `g${E}`);

  step('GET /register with a query string and a body → 400 invalid_request');
  r = await curl('-X', 'GET', `${B}/register?username=${U}x`, '-H', JSON_CT, '-d', JSON.stringify({ email: `x${E}` }));
  error(r, 400, 'invalid_request');

  step('GET /register with query parameters → 200');
  r = await curl(`${B}/register?username=${U}q&email=q${E}&password=correct%20horse%20battery&accept_terms=1`);
  registered(r, `${U}q`, `q${E}`);

  step('POST /register (form body) → 200');
  r = await curl('-X', 'POST', `${B}/register`, '--data-urlencode', `username=${U}f`, '--data-urlencode', `email=f${E}`,
    '--data-urlencode', `password=${P}`, '-d', 'accept_terms=1');
  registered(r, `${U}f`, `f${E}`);

  step('POST /register with accept_terms 0 → 400 terms_not_accepted');
  r = await registerJson({ username: `${U}t`, email: `t${E}`, password: P, accept_terms: 0 });
  error(r, 400, 'terms_not_accepted');

  step('POST /register with only a username → 400 invalid_request');
  r = await curl('-X', 'POST', `${B}/register`, '-H', JSON_CT, '-d', '{"username":"x"}');
  error(r, 400, 'invalid_request');

  step('POST /register with a short password → 400 invalid_request');
  r = await registerJson({ username: `${U}s`, email: `s${E}`, password: 'short', accept_terms: 1 });
  error(r, 400, 'invalid_request');

  // ---------------------------------------------------------------- token
  step('POST /token refresh_token grant (form) → 200, the same refresh token');
  r = await refresh(RT);
  const refreshed = tokens(r);
  expect(refreshed.refresh_token === RT, 'the refresh token changed');
  expect(refreshed.access_token !== AT, 'the access token did not change');

  step('POST /token password grant (JSON, by email) → 200, a new refresh token');
  r = await passwordGrant(E, P);
  const byPassword = tokens(r);
  expect(byPassword.refresh_token !== RT, 'the password grant returned the registration refresh token');

  step('POST /token password grant by username → 200');
  r = await passwordGrant(U, P);
  tokens(r);

  step('POST /token without grant_type (the seed\'s default, refresh_token) → 200');
  r = await curl(`${B}/token`, '-d', `client_id=${CLIENT}`, '--data-urlencode', `refresh_token=${RT}`);
  expect(tokens(r).refresh_token === RT, 'the refresh token changed');

  step('POST /token refresh grant with client_secret_basic → 200');
  r = await curl(`${B}/token`, '-u', BASIC, '-d', 'grant_type=refresh_token', '--data-urlencode', `refresh_token=${RT}`);
  tokens(r);

  step('POST /token refresh grant with client_secret_post → 200');
  r = await curl(`${B}/token`, '-d', 'grant_type=refresh_token', '-d', `client_id=${CLIENT}`, '--data-urlencode', `client_secret=${SECRET}`, '--data-urlencode', `refresh_token=${RT}`);
  tokens(r);

  step('POST /token with a wrong Basic secret → 401 invalid_client + WWW-Authenticate: Basic');
  r = await curl(`${B}/token`, '-u', `${CLIENT}:wrong`, '-d', 'grant_type=refresh_token', '--data-urlencode', `refresh_token=${RT}`);
  error(r, 401, 'invalid_client');
  expect(/^Basic /.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('POST /token with a wrong client_secret in the body → 401 invalid_client');
  r = await curl(`${B}/token`, '-d', `client_id=${CLIENT}`, '-d', 'client_secret=wrong', '--data-urlencode', `refresh_token=${RT}`);
  error(r, 401, 'invalid_client');

  step('POST /token with Basic and client_secret in the body (two methods) → 400 invalid_request');
  r = await curl(`${B}/token`, '-u', BASIC, '-d', `client_id=${CLIENT}`, '--data-urlencode', `client_secret=${SECRET}`, '--data-urlencode', `refresh_token=${RT}`);
  error(r, 400, 'invalid_request');

  step('POST /token password grant with this (secret-holding) client_id alone → 401 invalid_client');
  r = await curl(`${B}/token`, '-d', 'grant_type=password', '-d', `client_id=${CLIENT}`, '-d', `username=${U}`, '--data-urlencode', `password=${P}`);
  error(r, 401, 'invalid_client');

  // ---------------------------------------------------------------- metadata, introspection
  step('GET /api/oauth/.well-known/oauth-authorization-server → 200 RFC 8414 metadata');
  r = await curl(`${B}/.well-known/oauth-authorization-server`);
  status(r, 200);
  json(r);
  const meta = r.json ?? {};
  expect(meta.token_endpoint === `${meta.issuer}/token` && meta.introspection_endpoint === `${meta.issuer}/introspect`, `metadata is ${r.body}`);
  expect(JSON.stringify(meta.token_endpoint_auth_methods_supported) === '["client_secret_basic","client_secret_post","none"]', `auth methods are ${r.body}`);

  step('GET /.well-known/oauth-authorization-server/api/oauth (RFC 8414 §3.1 location) → the same document');
  r = await curl(`${baseUrl}/.well-known/oauth-authorization-server/api/oauth`);
  status(r, 200);
  expect(JSON.stringify(r.json) === JSON.stringify(meta), `body is ${r.body}`);

  step('POST /introspect the access token (client_secret_basic) → 200 active');
  r = await curl(`${B}/introspect`, '-u', BASIC, '--data-urlencode', `token=${refreshed.access_token}`);
  status(r, 200);
  expect(r.json?.active === true && r.json?.token_type === 'Bearer' && r.json?.username === U, `body is ${r.body}`);

  step('POST /introspect the refresh token (client_secret_post) → 200 active');
  r = await curl(`${B}/introspect`, '-d', `client_id=${CLIENT}`, '--data-urlencode', `client_secret=${SECRET}`, '--data-urlencode', `token=${RT}`);
  status(r, 200);
  expect(r.json?.active === true && r.json?.token_type === 'refresh_token', `body is ${r.body}`);

  step('POST /introspect an unknown token → 200 {"active":false}');
  r = await curl(`${B}/introspect`, '-u', BASIC, '-d', 'token=nope');
  status(r, 200);
  expect(r.body === '{"active":false}', `body is ${r.body}`);

  step('POST /introspect without a secret → 401 invalid_client');
  r = await curl(`${B}/introspect`, '-d', `client_id=${CLIENT}`, '-d', 'token=nope');
  error(r, 401, 'invalid_client');

  step('POST /token refresh_token grant without refresh_token → 400 invalid_request');
  r = await curl(`${B}/token`, '-d', 'grant_type=refresh_token', '-d', `client_id=${CLIENT}`);
  error(r, 400, 'invalid_request');

  step('POST /token with an unknown client_id → 400 invalid_client');
  r = await curl(`${B}/token`, '-d', 'grant_type=refresh_token', '-d', 'client_id=nope', '--data-urlencode', `refresh_token=${RT}`);
  error(r, 400, 'invalid_client');

  step('POST /token with an unknown refresh token → 400 invalid_grant');
  r = await curl(`${B}/token`, '-d', 'grant_type=refresh_token', '-d', `client_id=${CLIENT}`, '-d', 'refresh_token=AAAAAAAAAAAAAAAAAAAAAAAA');
  error(r, 400, 'invalid_grant');

  step('POST /token with grant_type client_credentials → 400 unsupported_grant_type');
  r = await curl(`${B}/token`, '-d', 'grant_type=client_credentials', '-d', `client_id=${CLIENT}`);
  error(r, 400, 'unsupported_grant_type');

  // Five wrong passwords lock the account (THROTTLE_ACCOUNT_MAX_FAILURES=5):
  // played on the GET-registered user, so that the main one stays usable.
  for (let i = 0; i < 5; i += 1) {
    step(`POST /token password grant with a wrong password (${i + 1} of 5) → 400 invalid_grant`);
    r = await curl(`${B}/token`, '-u', BASIC, '-d', 'grant_type=password', '-d', `username=${U}q`, '-d', 'password=wrong-password');
    error(r, 400, 'invalid_grant');
  }
  step('then the right password (the account is locked) → 429 too_many_requests + Retry-After');
  r = await curl(`${B}/token`, '-u', BASIC, '-d', 'grant_type=password', '-d', `username=${U}q`, '--data-urlencode', `password=${P}`);
  error(r, 429, 'too_many_requests');
  expect(/^\d+$/.test(r.headers['retry-after'] ?? ''), `Retry-After is ${r.headers['retry-after']}`);

  // ---------------------------------------------------------------- send_email_link / valid_email
  step('POST /send_email_link without a token → 401 unauthorized, WWW-Authenticate: Bearer');
  r = await curl('-X', 'POST', `${B}/send_email_link`);
  error(r, 401, 'unauthorized');
  expect(/^Bearer /.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  step('POST /send_email_link with the access token → 200 {success}, a mail with the link');
  r = await curl('-X', 'POST', `${B}/send_email_link`, '-H', `Authorization: Bearer ${AT}`);
  success(r);
  let mail = await outbox.next({ to: E });
  expect(mail, `no mail to ${E} in ${outbox.dir}`);
  const L = mail?.links.find((l) => l.startsWith(`${B}/valid_email/`));
  expect(L, `no ${B}/valid_email/<token> link in the mail: ${mail?.text}`);
  const link = L ?? `${B}/valid_email/missing`;

  step('HEAD the link → 200 (a HEAD never consumes it)');
  r = await curl('-I', link);
  status(r, 200);

  step('HEAD the link again → 200');
  r = await curl('-I', link);
  status(r, 200);

  step('GET the link → 301 to EMAIL_VERIFIED_REDIRECT (/docs/)');
  r = await curl(link);
  status(r, 301);
  expect(r.headers.location === '/docs/', `Location is ${r.headers.location}`);

  step('GET the link again → 404 not_found (single use)');
  r = await curl(link);
  error(r, 404, 'not_found');

  step('HEAD the used link → 404');
  r = await curl('-I', link);
  status(r, 404);

  step('GET /valid_email/unknown → 404 not_found');
  r = await curl(`${B}/valid_email/unknown`);
  error(r, 404, 'not_found');

  step('POST /send_email_link once verified → 200 and no mail');
  r = await curl('-X', 'POST', `${B}/send_email_link`, '-H', `Authorization: Bearer ${AT}`);
  success(r);
  expect(outbox.drain({ to: E }).length === 0, `a second verification mail went to ${E}`);
  // Mail to E counts so far (MAIL_MAX_PER_HOUR per address, throttled before
  // the verified check): the link above and this request.
  let mailsToE = 2;

  // ---------------------------------------------------------------- reset_password + confirm
  step('POST /reset_password (JSON) → 200 {success}, a mail with the reset link');
  r = await curl(`${B}/reset_password`, '-H', JSON_CT, '-d', JSON.stringify({ email: E }));
  success(r);
  mailsToE += 1;
  mail = await outbox.next({ to: E });
  expect(mail, `no mail to ${E} in ${outbox.dir}`);
  let T;
  for (const l of mail?.links ?? []) T ??= new URL(l).searchParams.get('token') ?? undefined;
  expect(T, `no link with ?token= in the mail: ${mail?.text}`);

  step('POST /reset_password for an unknown email → the same 200, no mail');
  const nobody = `nobody-${suffix}@example.com`;
  r = await curl(`${B}/reset_password`, '-d', `email=${nobody}`);
  success(r);

  step('POST /reset_password with an invalid email → 400 invalid_request');
  r = await curl(`${B}/reset_password`, '-d', 'email=not-an-email');
  error(r, 400, 'invalid_request');

  step('POST /reset_password/confirm with a short password → 400 (the token stays usable)');
  r = await curl(`${B}/reset_password/confirm`, '-H', JSON_CT, '-d', JSON.stringify({ token: T, password: 'short' }));
  error(r, 400);

  step('POST /reset_password/confirm with the mailed token → 200');
  r = await curl(`${B}/reset_password/confirm`, '-H', JSON_CT, '-d', JSON.stringify({ token: T, password: P2 }));
  success(r);

  step('POST /reset_password/confirm again → 400 invalid_grant (single use)');
  r = await curl(`${B}/reset_password/confirm`, '-H', JSON_CT, '-d', JSON.stringify({ token: T, password: P2 }));
  error(r, 400, 'invalid_grant');

  step('the reset revoked every token: refresh with the registration refresh token → 400 invalid_grant');
  r = await refresh(RT);
  error(r, 400, 'invalid_grant');

  step('the reset revoked every token: send_email_link with the old access token → 401');
  r = await curl('-X', 'POST', `${B}/send_email_link`, '-H', `Authorization: Bearer ${refreshed.access_token}`);
  error(r, 401, 'unauthorized');

  step('POST /token with the old password → 400 invalid_grant');
  r = await passwordGrant(E, P);
  error(r, 400, 'invalid_grant');

  step('POST /token with the new password → 200');
  r = await passwordGrant(E, P2);
  const after = tokens(r);
  const AT2 = after.access_token;
  const RT2 = after.refresh_token;

  step('no mail was sent for the unknown email');
  expect(outbox.drain({ to: nobody }).length === 0, `a mail went to ${nobody}`);

  const left = 5 - mailsToE;
  for (let i = 0; i < left; i += 1) {
    step(`POST /reset_password, mail ${mailsToE + i + 1} of MAIL_MAX_PER_HOUR=5 to the address → 200`);
    r = await curl(`${B}/reset_password`, '-H', JSON_CT, '-d', JSON.stringify({ email: E }));
    success(r);
  }
  step('POST /reset_password, the sixth mail to the address this hour → 429 too_many_requests + Retry-After');
  r = await curl(`${B}/reset_password`, '-H', JSON_CT, '-d', JSON.stringify({ email: E }));
  error(r, 429, 'too_many_requests');
  expect(/^\d+$/.test(r.headers['retry-after'] ?? ''), `Retry-After is ${r.headers['retry-after']}`);

  // ---------------------------------------------------------------- revoke
  step('POST /revoke with the access token → 200 {success}');
  r = await curl('-X', 'POST', `${B}/revoke`, '-H', `Authorization: Bearer ${AT2}`);
  success(r);

  step('POST /revoke again → 404 not_found');
  r = await curl('-X', 'POST', `${B}/revoke`, '-H', `Authorization: Bearer ${AT2}`);
  error(r, 404, 'not_found');

  step('the revoked access token → send_email_link 401');
  r = await curl('-X', 'POST', `${B}/send_email_link`, '-H', `Authorization: Bearer ${AT2}`);
  error(r, 401, 'unauthorized');

  step('the revoked family\'s refresh token → 400 invalid_grant');
  r = await refresh(RT2);
  error(r, 400, 'invalid_grant');

  step('POST /introspect the revoked access token → 200 {"active":false}');
  r = await curl(`${B}/introspect`, '-u', BASIC, '--data-urlencode', `token=${AT2}`);
  status(r, 200);
  expect(r.body === '{"active":false}', `body is ${r.body}`);

  step('POST /revoke with a garbage token → 401 unauthorized');
  r = await curl('-X', 'POST', `${B}/revoke`, '-H', 'Authorization: Bearer nope');
  error(r, 401, 'unauthorized');

  // ---------------------------------------------------------------- dialect everywhere
  step('an unknown path → 404 not_found');
  r = await curl(`${B}/nope`);
  error(r, 404, 'not_found');

  step('GET /token (wrong method) → 405 method_not_allowed');
  r = await curl(`${B}/token`);
  error(r, 405, 'method_not_allowed');

  step('POST /register as text/plain → 415 unsupported_media_type');
  r = await curl(`${B}/register`, '-H', 'Content-Type: text/plain', '-d', 'hi');
  error(r, 415, 'unsupported_media_type');

  step('POST /register with malformed JSON → 400 invalid_request');
  r = await curl('-X', 'POST', `${B}/register`, '-H', JSON_CT, '-d', '{');
  error(r, 400, 'invalid_request');

  step('POST /token password grant for the form-registered user → 200');
  r = await passwordGrant(`${U}f`, P);
  const formUser = tokens(r);

  step('an oauth-service access token is refused by mts-auth GET /user → 401');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${formUser.access_token}`);
  status(r, 401);
}
