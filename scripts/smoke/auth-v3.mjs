// auth-v3 ("Authentication API v3", mounted at
// /api/v3/auth; web sign-in at /web/login/authByToken): login, whoAmI and
// logout as GET with a query string and POST with a form or JSON; two-factor
// login with a TOTP code computed here from the secret the admin CLI printed;
// loginOther by an ADMIN within a shared domain, and the web sign-in with the
// token it returns (redirect, cookie, /web/ page). Every API error body is
// {"errorCode": "...", "errorDescription": "..."}.
//
// Last module, so it also plays one cross-API step: a user registered through
// oauth-service signs in through the four other APIs (one shared identity).
import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';

export const api = 'auth-v3';

const suffix = randomBytes(3).toString('hex');
const PW = 'correct horse battery';
const JSON_CT = 'content-type: application/json';
const TOKEN = /^[1-9][0-9]*-[0-9a-f]{32}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** The fixture users: username, names, role, domain, TOTP. */
const PEOPLE = {
  admin: { first: 'Ada', last: 'Admin', role: 'ADMIN', domain: 'acme' },
  linguist: { first: 'Lin', last: 'Guist', role: 'LINGUIST', domain: 'acme' },
  outsider: { first: 'Otto', last: 'Sider', role: 'LINGUIST', domain: 'other' },
  twofa: { first: 'Tia', last: 'Factor', role: 'LINGUIST', domain: null },
};

export async function setup({ admin }) {
  const users = {};
  for (const [key, p] of Object.entries(PEOPLE)) {
    const username = `${key}-${suffix}`;
    const u = await admin('user', 'create', '--username', username, '--email', `${username}@example.com`, '--password', PW,
      '--first-name', p.first, '--last-name', p.last, '--role', p.role);
    users[key] = { ...p, id: Number(u.id), username, email: `${username}@example.com` };
  }
  const domains = {
    acme: await admin('domain', 'create', '--name', `acme-${suffix}`),
    other: await admin('domain', 'create', '--name', `other-${suffix}`),
  };
  for (const u of Object.values(users)) if (u.domain) await admin('domain', 'add-member', domains[u.domain].id, u.id);
  const { secret } = await admin('totp', 'enroll', users.twofa.username);
  // For the cross-API step: mts-auth's token endpoint needs an OAuth client.
  const client = await admin('client', 'create', '--name', `smoke cross-api ${suffix}`);
  return { users, domains, secret, client };
}

const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

export async function run({ baseUrl, curl, expect, step, fixtures: f }) {
  const B = baseUrl;
  const A = `${B}/api/v3/auth`;
  const { admin, linguist, outsider, twofa } = f.users;

  const status = (res, code) => expect(res.status === code, `expected ${code}, got ${res.status}`);
  const json = (res) => expect(/^application\/json/.test(res.headers['content-type'] ?? ''), `Content-Type is ${res.headers['content-type']}`);
  const error = (res, code, errorCode) => {
    status(res, code);
    json(res);
    expect(keys(res.json) === 'errorCode,errorDescription', `body is not {errorCode, errorDescription}: ${res.body}`);
    if (errorCode) expect(res.json?.errorCode === errorCode, `errorCode is ${res.json?.errorCode}, expected ${errorCode}`);
  };
  const userOk = (u, who) => {
    expect(keys(u) === 'firstName,id,lastName,role,userName', `User keys are ${keys(u)}`);
    expect(u?.id === who.id && u?.userName === who.username && u?.role === who.role, `user is ${JSON.stringify(u)}, expected ${who.username} (${who.id}, ${who.role})`);
    expect(u?.firstName === who.first && u?.lastName === who.last, `names are ${u?.firstName} ${u?.lastName}`);
  };
  const loggedIn = (res, who) => {
    status(res, 200);
    json(res);
    const b = res.json ?? {};
    expect(keys(b) === 'expires,token,user', `login keys are ${keys(b)}`);
    userOk(b.user, who);
    expect(TOKEN.test(b.token ?? '') && b.token.startsWith(`${who.id}-`), `token is ${b.token}`);
    expect(ISO_UTC.test(b.expires ?? '') && Date.parse(b.expires) > Date.now(), `expires is ${b.expires}`);
    expect(/no-store/.test(res.headers['cache-control'] ?? ''), `Cache-Control is ${res.headers['cache-control']}`);
    return b.token;
  };
  const whoAmIOk = (res, who) => {
    status(res, 200);
    json(res);
    expect(keys(res.json) === 'user', `whoAmI keys are ${keys(res.json)}`);
    userOk(res.json?.user, who);
  };
  const loginForm = (who, ...extra) =>
    curl('-X', 'POST', `${A}/login`, '--data-urlencode', `userName=${who}`, '--data-urlencode', `password=${PW}`, ...extra);

  // ---------------------------------------------------------------- login
  step('POST /login (form) → 200 {user, token, expires}');
  let r = await loginForm(admin.username);
  const ADMIN_TOKEN = loggedIn(r, admin);

  step('GET /login with a query string → 200');
  r = await curl('-G', `${A}/login`, '--data-urlencode', `userName=${admin.username}`, '--data-urlencode', `password=${PW}`);
  loggedIn(r, admin);

  step('POST /login (JSON) → 200');
  r = await curl('-X', 'POST', `${A}/login`, '-H', JSON_CT, '-d', JSON.stringify({ userName: admin.username, password: PW }));
  loggedIn(r, admin);

  step('POST /login with the email as userName → 200');
  r = await loginForm(admin.email);
  loggedIn(r, admin);

  step('POST /login with a wrong password → 401 AuthInvalidCredentials');
  r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=${admin.username}`, '-d', 'password=wrong');
  error(r, 401, 'AuthInvalidCredentials');
  const wrongPasswordBody = r.body;

  step('POST /login for an unknown user → the same 401');
  r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=nobody-${suffix}`, '-d', 'password=wrong');
  error(r, 401, 'AuthInvalidCredentials');
  expect(r.body === wrongPasswordBody, `the body differs from the wrong-password one: ${r.body}`);

  step('POST /login without a password → 400 InvalidRequest');
  r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=${admin.username}`);
  error(r, 400, 'InvalidRequest');

  step('POST /login with an unknown parameter → 400');
  r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=${admin.username}`, '-d', 'password=x', '-d', 'role=ADMIN');
  error(r, 400);

  step('POST /login as text/plain → 415 UnsupportedMediaType');
  r = await curl('-X', 'POST', `${A}/login`, '-H', 'content-type: text/plain', '-d', 'x');
  error(r, 415, 'UnsupportedMediaType');

  // ---------------------------------------------------------------- two-factor
  const totp = new OTPAuth.TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: OTPAuth.Secret.fromBase32(f.secret) });

  step('2FA user: right password, no code → 401 AuthAccountTwoFactorProtected');
  r = await loginForm(twofa.username);
  error(r, 401, 'AuthAccountTwoFactorProtected');

  step('2FA user: wrong password with a code → 401 AuthInvalidCredentials (never reveals 2FA)');
  r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=${twofa.username}`, '-d', 'password=wrong', '-d', 'code=123456');
  error(r, 401, 'AuthInvalidCredentials');

  step('2FA user: right password, a wrong code → 401 AuthAccountTwoFactorProtected');
  const code = totp.generate();
  const wrongCode = String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
  r = await loginForm(twofa.username, '-d', `code=${wrongCode}`);
  error(r, 401, 'AuthAccountTwoFactorProtected');

  step('2FA user: right password and the current TOTP code → 200');
  r = await loginForm(twofa.username, '-d', `code=${code}`);
  const TWOFA_TOKEN = loggedIn(r, twofa);

  step('2FA user: the same code again → 401 AuthAccountTwoFactorProtected (a code works once)');
  r = await loginForm(twofa.username, '-d', `code=${code}`);
  error(r, 401, 'AuthAccountTwoFactorProtected');

  // ---------------------------------------------------------------- whoAmI
  step('GET /whoAmI with a query string → 200 {user}');
  r = await curl('-G', `${A}/whoAmI`, '--data-urlencode', `token=${ADMIN_TOKEN}`);
  whoAmIOk(r, admin);

  step('POST /whoAmI (form) → 200');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', `token=${ADMIN_TOKEN}`);
  whoAmIOk(r, admin);

  step('POST /whoAmI (JSON) → 200');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-H', JSON_CT, '-d', JSON.stringify({ token: ADMIN_TOKEN }));
  whoAmIOk(r, admin);

  step('POST /whoAmI with the 2FA login token → 200, the 2FA user');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', `token=${TWOFA_TOKEN}`);
  whoAmIOk(r, twofa);

  step('POST /whoAmI with a token never issued → 401 AuthTokenInvalid');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', 'token=1-a3bf70333f8f1316cb7841cd774c9ce8');
  error(r, 401, 'AuthTokenInvalid');

  step('POST /whoAmI with an empty form → 400 InvalidRequest');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', '');
  error(r, 400, 'InvalidRequest');

  step('POST /whoAmI with no body → 415');
  r = await curl('-X', 'POST', `${A}/whoAmI`);
  error(r, 415);

  // ---------------------------------------------------------------- loginOther
  step('POST /loginOther, ADMIN → LINGUIST of the same domain → 200, a token of the linguist');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${ADMIN_TOKEN}`, '-d', `userName=${linguist.username}`);
  const OTHER_TOKEN = loggedIn(r, linguist);

  step('POST /whoAmI with the loginOther token → 200, the linguist');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', `token=${OTHER_TOKEN}`);
  whoAmIOk(r, linguist);

  step('GET /loginOther with a query string → 200');
  r = await curl('-G', `${A}/loginOther`, '--data-urlencode', `token=${ADMIN_TOKEN}`, '--data-urlencode', `userName=${linguist.username}`);
  loggedIn(r, linguist);

  step('POST /loginOther (JSON) → 200');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-H', JSON_CT, '-d', JSON.stringify({ token: ADMIN_TOKEN, userName: linguist.username }));
  loggedIn(r, linguist);

  step('POST /loginOther for a user of another domain → 404 AuthUserNotFound');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${ADMIN_TOKEN}`, '-d', `userName=${outsider.username}`);
  error(r, 404, 'AuthUserNotFound');
  const notFoundBody = r.body;

  step('POST /loginOther for a user that does not exist → the same 404');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${ADMIN_TOKEN}`, '-d', `userName=nobody-${suffix}`);
  error(r, 404, 'AuthUserNotFound');
  expect(r.body === notFoundBody, `the body differs from the other-domain one: ${r.body}`);

  step('POST /login as the linguist → 200');
  r = await loginForm(linguist.username);
  const LING_TOKEN = loggedIn(r, linguist);

  step('POST /loginOther by a non-admin (existing target) → 403 AuthForbidden');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${LING_TOKEN}`, '-d', `userName=${admin.username}`);
  error(r, 403, 'AuthForbidden');

  step('POST /loginOther by a non-admin (no such target) → 403 AuthForbidden');
  r = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${LING_TOKEN}`, '-d', `userName=nobody-${suffix}`);
  error(r, 403, 'AuthForbidden');

  // ---------------------------------------------------------------- web sign-in
  const signInUrl = (token, url) => {
    const u = new URL(`${B}/web/login/authByToken`);
    u.searchParams.set('token', token);
    if (url !== undefined) u.searchParams.set('url', url);
    return u.toString();
  };
  const newOtherToken = async (why) => {
    step(`POST /loginOther for a fresh sign-in token (${why}) → 200`);
    const res = await curl('-X', 'POST', `${A}/loginOther`, '-d', `token=${ADMIN_TOKEN}`, '-d', `userName=${linguist.username}`);
    status(res, 200);
    return res.json?.token ?? 'missing';
  };

  step('GET /web/login/authByToken with the loginOther token → 303 /web/, Set-Cookie polyauth_web');
  r = await curl(signInUrl(OTHER_TOKEN, '/web/'));
  status(r, 303);
  expect(r.headers.location === '/web/', `Location is ${r.headers.location}`);
  const setCookie = r.headers['set-cookie'] ?? '';
  const cookie = /^(polyauth_web=[^;]+)/.exec(setCookie)?.[1];
  expect(cookie, `Set-Cookie is ${setCookie}`);
  expect(/;\s*Path=\//i.test(setCookie) && /;\s*HttpOnly/i.test(setCookie) && /;\s*SameSite=Lax/i.test(setCookie), `Set-Cookie lacks Path=/, HttpOnly or SameSite=Lax: ${setCookie}`);

  step('GET /web/ with the cookie → 200, HTML signed in as the linguist, on behalf of the admin');
  r = await curl('-b', cookie ?? 'polyauth_web=missing', `${B}/web/`);
  status(r, 200);
  expect(/^text\/html/.test(r.headers['content-type'] ?? ''), `Content-Type is ${r.headers['content-type']}`);
  expect(/signed in as/i.test(r.body), 'the page does not say "signed in as"');
  expect(r.body.includes(`<span id="user-login">${linguist.username}</span>`), 'the page does not name the linguist');
  expect(r.body.includes(admin.username), 'the page does not name the admin who signed in on their behalf');

  step('GET /web/ without the cookie → 200, not signed in');
  r = await curl(`${B}/web/`);
  status(r, 200);
  expect(/not signed in/i.test(r.body), 'the page does not say "not signed in"');

  step('the sign-in token is used up: GET /web/login/authByToken again → 401 HTML');
  r = await curl(signInUrl(OTHER_TOKEN, '/web/'));
  status(r, 401);
  expect(/^text\/html/.test(r.headers['content-type'] ?? ''), `Content-Type is ${r.headers['content-type']}`);
  expect(!r.headers['set-cookie'], 'a cookie was set for a used-up token');

  step('the sign-in token is no longer an API token: POST /whoAmI → 401 AuthTokenInvalid');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', `token=${OTHER_TOKEN}`);
  error(r, 401, 'AuthTokenInvalid');

  for (const unsafe of ['//evil.example', '/\\evil.example', 'https://evil.example', '%2F%2Fevil.example', '/..//evil.example']) {
    const t = await newOtherToken(`url=${unsafe}`);
    step(`web sign-in with url=${unsafe} → 303 to / (no open redirect)`);
    r = await curl(signInUrl(t, unsafe));
    status(r, 303);
    expect(r.headers.location === '/', `Location is ${r.headers.location}`);
  }

  step('an ordinary login token is not a web sign-in token → 401');
  r = await curl(signInUrl(LING_TOKEN));
  status(r, 401);

  const headToken = await newOtherToken('HEAD');
  step('HEAD /web/login/authByToken → 405 (a link preview must not use up the token)');
  r = await curl('-I', signInUrl(headToken, '/web/'));
  status(r, 405);
  step('GET /web/login/authByToken with the token the HEAD saw → 303 (not used up)');
  r = await curl(signInUrl(headToken, '/web/'));
  status(r, 303);

  step('POST /web/logout with the cookie → 303 /web/, the cookie cleared');
  r = await curl('-X', 'POST', '-b', cookie ?? 'polyauth_web=missing', `${B}/web/logout`);
  status(r, 303);
  expect(r.headers.location === '/web/', `Location is ${r.headers.location}`);
  expect(/polyauth_web=;/.test(r.headers['set-cookie'] ?? ''), `Set-Cookie is ${r.headers['set-cookie']}`);

  step('GET /web/ with the signed-out cookie → not signed in');
  r = await curl('-b', cookie ?? 'polyauth_web=missing', `${B}/web/`);
  status(r, 200);
  expect(/not signed in/i.test(r.body), 'the page still shows someone signed in');

  // ---------------------------------------------------------------- logout
  step('POST /logout → 204, empty body');
  r = await curl('-X', 'POST', `${A}/logout`, '-d', `token=${ADMIN_TOKEN}`);
  status(r, 204);
  expect(r.body === '', `body is ${r.body}`);

  step('POST /whoAmI with the logged-out token → 401 AuthTokenInvalid');
  r = await curl('-X', 'POST', `${A}/whoAmI`, '-d', `token=${ADMIN_TOKEN}`);
  error(r, 401, 'AuthTokenInvalid');

  step('GET /logout with the logged-out token → 401');
  r = await curl('-G', `${A}/logout`, '--data-urlencode', `token=${ADMIN_TOKEN}`);
  error(r, 401, 'AuthTokenInvalid');

  step('GET /logout with a query string (the 2FA token) → 204');
  r = await curl('-G', `${A}/logout`, '--data-urlencode', `token=${TWOFA_TOKEN}`);
  status(r, 204);

  step('POST /logout (JSON) → 204');
  r = await curl('-X', 'POST', `${A}/logout`, '-H', JSON_CT, '-d', JSON.stringify({ token: LING_TOKEN }));
  status(r, 204);

  // ---------------------------------------------------------------- scoping, throttling, unknown paths
  step('POST /login as the outsider → 200');
  r = await loginForm(outsider.username);
  const OUT_TOKEN = loggedIn(r, outsider);
  step('an auth-v3 token is not an mts-auth bearer token → 401');
  r = await curl(`${B}/user`, '-H', `Authorization: Bearer ${OUT_TOKEN}`);
  status(r, 401);

  for (let i = 1; i <= 5; i += 1) {
    step(`POST /login with a wrong password (${i} of 5) → 401`);
    r = await curl('-X', 'POST', `${A}/login`, '-d', `userName=${outsider.username}`, '-d', 'password=wrong');
    error(r, 401, 'AuthInvalidCredentials');
  }
  step('then the right password (the account is locked) → 429 AuthTooManyAttempts + Retry-After');
  r = await loginForm(outsider.username);
  error(r, 429, 'AuthTooManyAttempts');
  expect(/^\d+$/.test(r.headers['retry-after'] ?? ''), `Retry-After is ${r.headers['retry-after']}`);

  step('an unknown path → 404 NotFound');
  r = await curl(`${A}/nope`);
  error(r, 404, 'NotFound');

  step('DELETE /login → 405 MethodNotAllowed');
  r = await curl('-X', 'DELETE', `${A}/login`);
  error(r, 405, 'MethodNotAllowed');

  await crossApi({ baseUrl, curl, expect, step, status, fixtures: f });
}

/** A user registered through oauth-service signs in through the four other APIs. */
async function crossApi({ baseUrl: B, curl, expect, step, status, fixtures: f }) {
  const username = `cross-${suffix}`;
  const email = `${username}@example.com`;
  const password = 'cross api battery staple';

  step('cross-API: register through oauth-service POST /api/oauth/register → 200');
  let r = await curl('-X', 'POST', `${B}/api/oauth/register`, '-H', JSON_CT,
    '-d', JSON.stringify({ username, email, password, accept_terms: 1 }));
  status(r, 200);
  const id = r.json?.user?.id;
  expect(/^[1-9][0-9]*$/.test(id ?? ''), `user id is ${id}`);

  step('cross-API: mts-auth POST /oauth/token with the email → 200');
  const clientHeader = Buffer.from(`${f.client.id}:${f.client.secret}`).toString('base64');
  r = await curl('-X', 'POST', `${B}/oauth/token`, '-H', `Authorization: Basic: ${clientHeader}`,
    '-H', 'Content-Type: application/x-www-form-urlencoded',
    '--data-urlencode', `username=${email}`, '--data-urlencode', `password=${password}`, '-d', 'grant_type=password');
  status(r, 200);
  step('cross-API: mts-auth GET /user → the same user id');
  r = await curl(`${B}/user`, '-H', `Authorization: Bearer ${r.json?.access_token}`);
  status(r, 200);
  expect(r.json?.Id === id, `mts-auth user id (its document's \`Id\`) is ${r.json?.Id}, expected ${id}`);

  step('cross-API: mint-auth POST /auth/authorize (password grant) → 200, the same user id');
  r = await curl('-H', 'Content-Type: application/json', '-X', 'POST',
    '-d', JSON.stringify({ grant_type: 'password', username: email, password }), `${B}/mint/api/v1/auth/authorize`);
  status(r, 200);
  expect(r.json?.user === Number(id), `mint user is ${r.json?.user}, expected ${id}`);
  step('cross-API: mint-auth GET /auth/token_info → the same user id');
  r = await curl('-H', `Authorization: UserToken ${r.json?.access_token}`, `${B}/mint/api/v1/auth/token_info`);
  status(r, 200);
  expect(r.json?.user === Number(id), `token_info user is ${r.json?.user}, expected ${id}`);

  step('cross-API: user-token-auth POST /auth/login (Basic, the email) → 200');
  r = await curl('-X', 'POST', `${B}/auth/login`, '-H', 'Accept: application/json', '-u', `${email}:${password}`);
  status(r, 200);
  step('cross-API: user-token-auth POST /auth/bump → 200');
  r = await curl('-X', 'POST', `${B}/auth/bump`, '-H', `Authorization: Bearer ${r.json?.token}`);
  status(r, 200);

  step('cross-API: auth-v3 POST /login (the username) → 200, the same user, role LINGUIST');
  r = await curl('-X', 'POST', `${B}/api/v3/auth/login`, '--data-urlencode', `userName=${username}`, '--data-urlencode', `password=${password}`);
  status(r, 200);
  expect(r.json?.user?.id === Number(id) && r.json?.user?.userName === username && r.json?.user?.role === 'LINGUIST', `auth-v3 user is ${JSON.stringify(r.json?.user)}`);
  step('cross-API: auth-v3 POST /whoAmI → the same user');
  r = await curl('-X', 'POST', `${B}/api/v3/auth/whoAmI`, '-d', `token=${r.json?.token}`);
  status(r, 200);
  expect(r.json?.user?.id === Number(id), `whoAmI user is ${JSON.stringify(r.json?.user)}`);
}
