// mts-auth ("API AUTH"): every documented
// operation with curl as the seed describes it, only the host changed: the
// seed's https://mts-api-auth.leanalytics.io:443 becomes the local server.
// The token call sends the seed's literal `Authorization: Basic: <base64>`.
import { randomBytes } from 'node:crypto';

export const api = 'mts-auth';

const FORM = 'Content-Type: application/x-www-form-urlencoded';
const suffix = randomBytes(3).toString('hex');

export async function setup({ admin }) {
  const client = await admin('client', 'create', '--name', `smoke mts-auth ${suffix}`);
  const member = {
    email: `member-${suffix}@example.com`,
    password: `member pass ${suffix}`,
  };
  const memberUser = await admin(
    'user', 'create', '--username', member.email, '--email', member.email, '--password', member.password,
    '--first-name', 'Grace', '--last-name', 'Hopper', '--role', 'LINGUIST',
  );
  const adminCreds = { email: `admin-${suffix}@example.com`, password: `admin pass ${suffix}` };
  const adminUser = await admin(
    'user', 'create', '--username', adminCreds.email, '--email', adminCreds.email, '--password', adminCreds.password,
    '--first-name', 'Ada', '--last-name', 'Admin', '--role', 'ADMIN',
  );
  const domain = await admin('domain', 'create', '--name', `smoke-domain-${suffix}`);
  const other = await admin('domain', 'create', '--name', `smoke-other-${suffix}`);
  await admin('domain', 'add-member', domain.id, memberUser.id);
  return { client, member: { ...member, id: memberUser.id }, admin: { ...adminCreds, id: adminUser.id }, domain, other };
}

const isId = (v) => typeof v === 'string' && /^[1-9][0-9]*$/.test(v);
const keys = (o) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

export async function run({ baseUrl, curl, expect, step, fixtures: f }) {
  const status = (res, code) => expect(res.status === code, `expected ${code}, got ${res.status}`);
  const json = (res) => expect(/^application\/json/.test(res.headers['content-type'] ?? ''), `Content-Type is ${res.headers['content-type']}`);
  // POST /user's 406 is the seed's bare "<error_message>": a JSON string.
  const errorMessage = (res) => {
    json(res);
    expect(typeof res.json === 'string' && res.json.length > 0, `body is not a JSON string message: ${res.body}`);
  };
  const oauthError = (res, code, error) => {
    json(res);
    expect(keys(res.json) === 'code,error,error_description', `body is not an OauthErrResponse: ${res.body}`);
    expect(res.json?.code === code, `code is ${res.json?.code}, expected ${code}`);
    if (error) expect(res.json?.error === error, `error is ${res.json?.error}, expected ${error}`);
  };
  const clientHeader = Buffer.from(`${f.client.id}:${f.client.secret}`).toString('base64');
  const email = `smoke-${suffix}@example.com`;
  const password = `correct horse ${suffix}`;

  // POST /user — register (no authentication)
  step('GET /.well-known/oauth-authorization-server → 200 RFC 8414 metadata');
  let r = await curl(`${baseUrl}/.well-known/oauth-authorization-server`);
  status(r, 200);
  json(r);
  expect(r.json?.token_endpoint === `${r.json?.issuer}/oauth/token`, `token_endpoint is ${r.json?.token_endpoint}`);
  expect(JSON.stringify(r.json?.grant_types_supported) === '["password"]', `grant_types_supported is ${JSON.stringify(r.json?.grant_types_supported)}`);
  expect(JSON.stringify(r.json?.token_endpoint_auth_methods_supported) === '["client_secret_basic"]', `auth methods are ${r.body}`);

  step('POST /user registers a user → 201 "<user_id>" (a bare JSON string) and Location');
  r = await curl('-X', 'POST', `${baseUrl}/user`, '-H', FORM,
    '-d', 'firstName=Alan', '-d', 'lastName=Turing', '-d', `email=${email}`, '-d', `password=${password}`);
  status(r, 201);
  json(r);
  expect(isId(r.json), `body is ${r.body}, expected "<user_id>"`);
  expect(r.headers.location === `/user/${r.json}`, `Location is ${r.headers.location}`);
  const userId = r.json;

  step('POST /user with a taken email → 406 "<error_message>"');
  r = await curl('-X', 'POST', `${baseUrl}/user`, '-H', FORM,
    '-d', 'firstName=Alan', '-d', 'lastName=Turing', '-d', `email=${email.toUpperCase()}`, '-d', `password=${password}`);
  status(r, 406);
  errorMessage(r);

  step('POST /user with a missing field → 406 "<error_message>"');
  r = await curl('-X', 'POST', `${baseUrl}/user`, '-H', FORM, '-d', 'firstName=Alan', '-d', `email=x-${email}`);
  status(r, 406);
  errorMessage(r);

  // POST /oauth/token — the seed's header, literally: "Basic: <base64>"
  step("POST /oauth/token with the seed's `Authorization: Basic: <base64>` → 200 token");
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${password}`, '-d', 'grant_type=password');
  status(r, 200);
  json(r);
  expect(typeof r.json?.access_token === 'string' && r.json.access_token.split('.').length === 3, `no JWT access_token in ${r.body}`);
  expect(r.json?.token_type === 'Bearer', `token_type is ${r.json?.token_type}`);
  expect(Number.isInteger(r.json?.expires_in) && r.json.expires_in > 0, `expires_in is ${r.json?.expires_in}`);
  expect(r.headers['cache-control'] === 'no-store', `Cache-Control is ${r.headers['cache-control']}`);
  const token = r.json?.access_token;

  step('POST /oauth/token with standard `Basic <base64>` → 200 token');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${password}`, '-d', 'grant_type=password');
  status(r, 200);
  const secondToken = r.json?.access_token;

  step('POST /oauth/token with a wrong password → 400 invalid_grant');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', 'password=not the password', '-d', 'grant_type=password');
  status(r, 400);
  oauthError(r, 400, 'invalid_grant');

  step('POST /oauth/token for an unknown user → the same 400 invalid_grant');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=nobody-${suffix}@example.com`, '-d', `password=${password}`, '-d', 'grant_type=password');
  status(r, 400);
  oauthError(r, 400, 'invalid_grant');

  step('POST /oauth/token with an unsupported grant_type → 400 unsupported_grant_type');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${password}`, '-d', 'grant_type=client_credentials');
  status(r, 400);
  oauthError(r, 400, 'unsupported_grant_type');

  step('POST /oauth/token with a wrong client secret → 401 invalid_client');
  const badClient = Buffer.from(`${f.client.id}:wrong-secret`).toString('base64');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`,
    '-H', `Authorization: Basic: ${badClient}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${password}`, '-d', 'grant_type=password');
  status(r, 401);
  oauthError(r, 401, 'invalid_client');
  expect(/^Basic/i.test(r.headers['www-authenticate'] ?? ''), `WWW-Authenticate is ${r.headers['www-authenticate']}`);

  // GET /user — who am I
  step('GET /user with the bearer token → 200 UserId {"Id": ...}');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${token}`);
  status(r, 200);
  json(r);
  expect(r.json?.Id === userId && keys(r.json) === 'Id', `body is ${r.body}, expected {"Id":"${userId}"}`);

  step('GET /user without a token → 401');
  r = await curl(`${baseUrl}/user`);
  status(r, 401);
  oauthError(r, 401);

  step('GET /user with a forged token → 401');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${String(token).slice(0, -4)}AAAA`);
  status(r, 401);
  oauthError(r, 401);

  // GET /user/<user_id>
  step('GET /user/<user_id> (own record) → 200 User {FirstName, LastName, Email, ActiveDomains}');
  r = await curl(`${baseUrl}/user/${userId}`, '-H', `Authorization: Bearer ${token}`);
  status(r, 200);
  json(r);
  expect(keys(r.json) === 'ActiveDomains,Email,FirstName,LastName', `User keys are ${keys(r.json)}`);
  expect(r.json?.FirstName === 'Alan' && r.json?.LastName === 'Turing' && r.json?.Email === email, `body is ${r.body}`);
  expect(r.json?.ActiveDomains === false, 'ActiveDomains should be false for a user in no domain');

  step("GET /user/<user_id> (someone else's record) → 403");
  r = await curl(`${baseUrl}/user/${f.member.id}`, '-H', `Authorization: Bearer ${token}`);
  status(r, 403);
  oauthError(r, 403);

  step('GET /user/<user_id> without a token → 401');
  r = await curl(`${baseUrl}/user/${userId}`);
  status(r, 401);
  oauthError(r, 401);

  // PUT /user/<user_id>
  step('PUT /user/<user_id> renames → 200');
  r = await curl('-X', 'PUT', `${baseUrl}/user/${userId}`, '-H', `Authorization: Bearer ${token}`, '-H', FORM,
    '-d', 'firstName=Alan M.', '-d', 'lastName=Turing');
  status(r, 200);
  expect(r.json?.FirstName === 'Alan M.', `FirstName is ${r.json?.FirstName}`);

  step("PUT /user/<user_id> (someone else's record) → 403");
  r = await curl('-X', 'PUT', `${baseUrl}/user/${f.member.id}`, '-H', `Authorization: Bearer ${token}`, '-H', FORM,
    '-d', 'firstName=Mallory');
  status(r, 403);
  oauthError(r, 403);

  const newPassword = `new horse ${suffix}`;
  step('PUT /user/<user_id> changes the password → 200');
  r = await curl('-X', 'PUT', `${baseUrl}/user/${userId}`, '-H', `Authorization: Bearer ${token}`, '-H', FORM,
    '-d', `password=${newPassword}`);
  status(r, 200);

  step('the other session is revoked by the password change → GET /user 401');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${secondToken}`);
  status(r, 401);

  step('the token that changed the password still works → GET /user 200');
  r = await curl(`${baseUrl}/user`, '-H', `Authorization: Bearer ${token}`);
  status(r, 200);

  step('POST /oauth/token with the old password → 400');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`, '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${password}`, '-d', 'grant_type=password');
  status(r, 400);

  step('POST /oauth/token with the new password → 200');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`, '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${email}`, '-d', `password=${newPassword}`, '-d', 'grant_type=password');
  status(r, 200);

  // GET /domain, GET /domain/<domain_id>
  step('GET /domain for a user in no domain → 404');
  r = await curl(`${baseUrl}/domain`, '-H', `Authorization: Bearer ${token}`);
  status(r, 404);
  oauthError(r, 404);

  step('POST /oauth/token for a domain member (made with the admin CLI) → 200');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`, '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${f.member.email}`, '-d', `password=${f.member.password}`, '-d', 'grant_type=password');
  status(r, 200);
  const memberToken = r.json?.access_token;

  step('GET /domain for a member → 200 Domains [{Id, Name, Created_At}]');
  r = await curl(`${baseUrl}/domain`, '-H', `Authorization: Bearer ${memberToken}`);
  status(r, 200);
  json(r);
  expect(Array.isArray(r.json) && r.json.length === 1, `body is ${r.body}`);
  const d = r.json?.[0];
  expect(keys(d) === 'Created_At,Id,Name' && d.Id === f.domain.id && d.Name === f.domain.name, `Domain is ${JSON.stringify(d)}`);
  expect(!Number.isNaN(Date.parse(d?.Created_At)), `Created_At is ${d?.Created_At}`);

  step('GET /domain/<domain_id> as a member → 200 Domain');
  r = await curl(`${baseUrl}/domain/${f.domain.id}`, '-H', `Authorization: Bearer ${memberToken}`);
  status(r, 200);
  expect(r.json?.Id === f.domain.id && r.json?.Name === f.domain.name, `body is ${r.body}`);

  step('GET /domain/<domain_id> of a domain the user is not in → 403');
  r = await curl(`${baseUrl}/domain/${f.other.id}`, '-H', `Authorization: Bearer ${memberToken}`);
  status(r, 403);
  oauthError(r, 403);

  step('GET /domain/<domain_id> that does not exist → 404');
  r = await curl(`${baseUrl}/domain/999999999`, '-H', `Authorization: Bearer ${memberToken}`);
  status(r, 404);
  oauthError(r, 404);

  step('GET /user/<user_id> member record shows ActiveDomains true');
  r = await curl(`${baseUrl}/user/${f.member.id}`, '-H', `Authorization: Bearer ${memberToken}`);
  status(r, 200);
  expect(r.json?.ActiveDomains === true, `ActiveDomains is ${r.json?.ActiveDomains}`);

  // An ADMIN (made with the admin CLI) reads anyone and every domain.
  step('POST /oauth/token for an ADMIN → 200');
  r = await curl('-X', 'POST', `${baseUrl}/oauth/token`, '-H', `Authorization: Basic: ${clientHeader}`, '-H', FORM,
    '-d', `username=${f.admin.email}`, '-d', `password=${f.admin.password}`, '-d', 'grant_type=password');
  status(r, 200);
  const adminToken = r.json?.access_token;

  step("GET /user/<user_id> as ADMIN (someone else's record) → 200");
  r = await curl(`${baseUrl}/user/${userId}`, '-H', `Authorization: Bearer ${adminToken}`);
  status(r, 200);
  expect(r.json?.FirstName === 'Alan M.', `body is ${r.body}`);

  step('GET /domain as ADMIN → 200 every domain');
  r = await curl(`${baseUrl}/domain`, '-H', `Authorization: Bearer ${adminToken}`);
  status(r, 200);
  const ids = Array.isArray(r.json) ? r.json.map((x) => x.Id) : [];
  expect(ids.includes(f.domain.id) && ids.includes(f.other.id), `domains are ${r.body}`);

  // The dialect covers what the seed does not list.
  step('an unknown path → 404 in the OauthErrResponse dialect');
  r = await curl(`${baseUrl}/no-such-path-${suffix}`);
  status(r, 404);
  oauthError(r, 404);

  step('a wrong method → 405 in the OauthErrResponse dialect');
  r = await curl('-X', 'DELETE', `${baseUrl}/user`);
  status(r, 405);
  oauthError(r, 405);

  step('a token of mts-auth used on a bad user id → 400');
  r = await curl(`${baseUrl}/user/abc`, '-H', `Authorization: Bearer ${token}`);
  status(r, 400);
  oauthError(r, 400);
}
