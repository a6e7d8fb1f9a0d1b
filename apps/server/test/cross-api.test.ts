// One person, five APIs: the acceptance test of the shared identity. Every
// call goes over real HTTP through the packages/client factories (response
// validation on), so the clients, the specs and the server are checked together.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { User } from '@polyauth/store';
import {
  createAuthV3Client,
  createMintAuthClient,
  createMtsAuthClient,
  createOauthServiceClient,
  createUserTokenAuthClient,
  PolyauthError,
} from '../../../packages/client/src/index.ts';
import { newTotpSecret, totpCode } from '../src/identity/totp.ts';
import { startServer, type TestServer } from './harness.ts';
import { uniqueEmail } from './helpers.ts';
import { linkIn, startSmtpSink, type SmtpSink } from './smtp-sink.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
const WRONG_PASSWORD = 'not the password at all';
const VERIFIED_REDIRECT = 'https://app.example.com/email-verified';

const APIS = ['mts-auth', 'mint-auth', 'user-token-auth', 'oauth-service', 'auth-v3'] as const;
type Api = (typeof APIS)[number];

/** What an API answered: its status and body (the success body, or its error dialect's body). */
interface Answer {
  status: number;
  body: unknown;
}

/** Runs a client call; a PolyauthError becomes its answer, anything else stays thrown. */
async function answer(call: () => Promise<unknown>): Promise<Answer> {
  try {
    return { status: 200, body: await call() };
  } catch (err) {
    if (err instanceof PolyauthError) return { status: err.status, body: err.body };
    throw err;
  }
}

/** One server and the clients' shared settings. */
interface Env {
  srv: TestServer;
  /** An OAuth client with a secret (mts-auth's Basic) whose id is oauth-service's client_id too. */
  oauth: { clientId: string; clientSecret: string };
}

async function startEnv(extra: Record<string, string> = {}, smtp?: SmtpSink): Promise<Env> {
  const srv = await startServer({
    ...(smtp ? { SMTP_URL: smtp.url } : {}),
    EMAIL_VERIFIED_REDIRECT: VERIFIED_REDIRECT,
    RESET_PASSWORD_PAGE: 'https://app.example.com/reset',
    MAIL_MAX_PER_HOUR: '1000',
    MAIL_MAX_PER_HOUR_PER_IP: '100000',
    // Every request comes from 127.0.0.1 and many are refused on purpose.
    THROTTLE_IP_MAX_FAILURES: '100000',
    THROTTLE_ACCOUNT_MAX_FAILURES: '1000',
    ...extra,
  });
  const created = await srv.services.clients.create('oauth', 'cross-api tests');
  return { srv, oauth: { clientId: created.client.clientId, clientSecret: created.secret! } };
}

/** A user made in the store, as the admin CLI would. */
async function makeUser(env: Env, opts: { totp?: boolean } = {}): Promise<User & { secret?: string }> {
  const email = uniqueEmail('cross');
  const user = await env.srv.services.accounts.register(
    { username: email.split('@')[0]!, email, firstName: 'Grace', lastName: 'Hopper', password: PASSWORD },
    { api: 'test', ip: '127.0.0.1' },
  );
  if (!opts.totp) return user;
  const secret = newTotpSecret();
  await env.srv.services.store.users.setTotp(user.id, secret);
  return { ...user, secret };
}

/** The password sign-in of every API, through its client; the body on success. */
function signIns(env: Env): Record<Api, (identifier: string, password: string, code?: string) => Promise<Answer>> {
  const baseUrl = env.srv.baseUrl;
  return {
    'mts-auth': (id, pw) => answer(() => createMtsAuthClient({ baseUrl, ...env.oauth }).signIn({ username: id, password: pw })),
    'mint-auth': (id, pw) => answer(() => createMintAuthClient({ baseUrl }).signIn({ username: id, password: pw })),
    'user-token-auth': (id, pw) => answer(() => createUserTokenAuthClient({ baseUrl }).signIn({ username: id, password: pw })),
    'oauth-service': (id, pw) => answer(() => createOauthServiceClient({ baseUrl, ...env.oauth }).signIn({ username: id, password: pw })),
    'auth-v3': (id, pw, code) => answer(() => createAuthV3Client({ baseUrl }).signIn({ username: id, password: pw, code })),
  };
}

/** The token a successful sign-in answered, per API. */
function tokenOf(api: Api, body: unknown): string {
  const b = body as Record<string, string>;
  return api === 'mts-auth' || api === 'oauth-service' || api === 'mint-auth' ? b.access_token! : b.token!;
}

/** Each API's own authenticated call, with a token given to its client. */
function probes(env: Env): Record<Api, (token: string) => Promise<Answer>> {
  const baseUrl = env.srv.baseUrl;
  return {
    'mts-auth': async (token) => {
      const { data, error, response } = await createMtsAuthClient({ baseUrl, ...env.oauth }).api.GET('/user', {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: data ?? error };
    },
    'mint-auth': (token) => answer(() => createMintAuthClient({ baseUrl, userToken: token }).currentUser()),
    'user-token-auth': (token) => answer(() => createUserTokenAuthClient({ baseUrl, token }).bump()),
    // The user's email is verified, so this sends nothing: it only authenticates.
    'oauth-service': (token) =>
      answer(() => createOauthServiceClient({ baseUrl, ...env.oauth, session: { accessToken: token } }).sendEmailLink()),
    'auth-v3': (token) => answer(() => createAuthV3Client({ baseUrl, token }).currentUser()),
  };
}

/** How each API refuses a token that is not (or no longer) one of its live ones. */
const TOKEN_REFUSED: Record<Api, Answer> = {
  'mts-auth': { status: 401, body: { code: 401, error: 'invalid_token', error_description: expect.any(String) } },
  'mint-auth': { status: 403, body: { response: 'The token has expired or was cancelled, please sign in again' } },
  'user-token-auth': { status: 401, body: { error: 'invalid_token', message: expect.any(String) } },
  'oauth-service': { status: 401, body: { error: 'unauthorized', message: expect.any(String) } },
  'auth-v3': { status: 401, body: { errorCode: 'AuthTokenInvalid', errorDescription: expect.any(String) } },
};

/** How each API refuses a wrong password. */
const CREDENTIALS_REFUSED: Record<Api, Answer> = {
  'mts-auth': { status: 400, body: { code: 400, error: 'invalid_grant', error_description: 'The username or password is incorrect.' } },
  'mint-auth': { status: 404, body: { response: 'The password does not match, suggest reset?' } },
  'user-token-auth': { status: 401, body: { error: 'invalid_credentials', message: 'Invalid username or password.' } },
  'oauth-service': { status: 400, body: { error: 'invalid_grant', message: 'The username or password is incorrect.' } },
  'auth-v3': { status: 401, body: { errorCode: 'AuthInvalidCredentials', errorDescription: 'The user name or password is wrong.' } },
};

/** The answer a successful sign-in gives, for the user `id`. */
function signedIn(api: Api, id: string): Answer {
  const body: Record<Api, unknown> = {
    'mts-auth': expect.objectContaining({ token_type: 'Bearer', access_token: expect.any(String) }),
    'mint-auth': expect.objectContaining({ user: Number(id), token_type: 'user' }),
    'user-token-auth': expect.objectContaining({ token: expect.stringMatching(/^[0-9a-f-]{36}$/), enabled: true }),
    'oauth-service': expect.objectContaining({ token_type: 'Bearer', refresh_token: expect.any(String) }),
    'auth-v3': expect.objectContaining({ user: expect.objectContaining({ id: Number(id) }), token: expect.stringMatching(new RegExp(`^${id}-`)) }),
  };
  return { status: 200, body: body[api] };
}

/** What each API's authenticated call answers the token of user `id`. */
function accepted(api: Api, id: string): Answer {
  const body: Record<Api, unknown> = {
    'mts-auth': { Id: id },
    'mint-auth': { user: Number(id), token_type: 'user' },
    'user-token-auth': { lastLoginTime: expect.any(String) },
    'oauth-service': undefined,
    'auth-v3': expect.objectContaining({ id: Number(id) }),
  };
  return { status: 200, body: body[api] };
}

/** Signs `identifier` in through all five APIs; the token each answered. */
async function signInEverywhere(env: Env, identifier: string, id: string, code?: () => string): Promise<Record<Api, string>> {
  const sign = signIns(env);
  const tokens = {} as Record<Api, string>;
  for (const api of APIS) {
    const r = await sign[api](identifier, PASSWORD, api === 'auth-v3' ? code?.() : undefined);
    expect({ api, ...r }).toEqual({ api, ...signedIn(api, id) });
    tokens[api] = tokenOf(api, r.body);
  }
  return tokens;
}

/** Each token at its own API, as `[api, answer]` pairs (one readable diff on failure). */
async function probeAll(env: Env, tokens: Record<Api, string>): Promise<Array<[Api, Answer]>> {
  const probe = probes(env);
  const out: Array<[Api, Answer]> = [];
  for (const api of APIS) out.push([api, await probe[api](tokens[api])]);
  return out;
}

/** An ADMIN sharing a domain with `target`, signed in to auth-v3, opens a /web session as them: the cookie. */
async function webSessionAs(env: Env, target: User): Promise<{ cookie: string; adminToken: string; loginOtherToken: string }> {
  const { store } = env.srv.services;
  const admin = await makeUser(env);
  await store.users.update(admin.id, { role: 'ADMIN' });
  const domain = await store.domains.create(`cross-${admin.id}`);
  await store.domains.addMember(domain.id, admin.id);
  await store.domains.addMember(domain.id, target.id);
  const v3 = createAuthV3Client({ baseUrl: env.srv.baseUrl });
  await v3.signIn({ username: admin.username, password: PASSWORD });
  const forWeb = await v3.signInAs(target.username);
  const r = await fetch(v3.authByTokenUrl(forWeb.token, '/web/'), { redirect: 'manual' });
  expect(r.status).toBe(303);
  const cookie = /^(polyauth_web=[^;]+);/.exec(r.headers.get('set-cookie') ?? '')?.[1];
  if (!cookie) throw new Error(`authByToken set no session cookie: ${r.headers.get('set-cookie')}`);
  // A second loginOther token, kept unused: an auth-v3 token of the target too.
  const kept = await v3.signInAs(target.username);
  return { cookie, adminToken: v3.token!, loginOtherToken: kept.token };
}

/** A code valid at no step of the ±1 window around now. */
function wrongCode(secret: string): string {
  const now = Date.now();
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

/** Who the /web session cookie signs in, or undefined. */
async function webUser(env: Env, cookie: string): Promise<string | undefined> {
  const r = await fetch(`${env.srv.baseUrl}/web/`, { headers: { cookie } });
  expect(r.status).toBe(200);
  return /<span id="user-login">([^<]*)<\/span>/.exec(await r.text())?.[1];
}

let smtp: SmtpSink;
let env: Env;

beforeAll(async () => {
  smtp = await startSmtpSink();
  env = await startEnv({}, smtp);
});
afterAll(async () => {
  await env?.srv.close();
  await smtp?.close();
});

test('response validation is on', () => {
  expect(env.srv.services.config.validateResponses).toBe(true);
});

describe('one person, five APIs', () => {
  test('registers through oauth-service, verifies the email, signs in everywhere; a password reset kills every token at once', async () => {
    const baseUrl = env.srv.baseUrl;
    const email = uniqueEmail('person');
    const username = `person_${email.split('@')[0]!.replace(/\./g, '_')}`;

    // Register through oauth-service.
    const oauth = createOauthServiceClient({ baseUrl, ...env.oauth });
    const registration = await oauth.register({ username, email, password: PASSWORD, accept_terms: 1 });
    const id = registration.user.id;
    expect(registration.user).toMatchObject({ username, email, email_verified: false });

    // Verify the email through the mailed link.
    await oauth.sendEmailLink();
    const verifyMail = await smtp.next(email);
    const link = linkIn(verifyMail);
    expect(link).toMatch(/\/api\/oauth\/valid_email\/[A-Za-z0-9_-]{43}$/);
    const clicked = await fetch(link.replace(env.srv.services.config.publicUrl, baseUrl), { redirect: 'manual' });
    expect({ status: clicked.status, location: clicked.headers.get('location') }).toEqual({ status: 301, location: VERIFIED_REDIRECT });
    expect((await env.srv.services.store.users.byId(id))!.emailVerifiedAt).toBeInstanceOf(Date);

    // Sign in through all five, with the username or the email.
    const mts = createMtsAuthClient({ baseUrl, ...env.oauth });
    await mts.signIn({ username: email, password: PASSWORD });
    expect(await mts.currentUser()).toMatchObject({ Email: email });

    const mint = createMintAuthClient({ baseUrl });
    expect(await mint.signIn({ username, password: PASSWORD })).toMatchObject({ user: Number(id), token_type: 'user' });
    expect(await mint.currentUser()).toEqual({ user: Number(id), token_type: 'user' });

    const uta = createUserTokenAuthClient({ baseUrl });
    await uta.signIn({ username: email, password: PASSWORD });
    expect((await uta.bump()).lastLoginTime).toEqual(expect.any(String));

    const oauthLogin = createOauthServiceClient({ baseUrl, ...env.oauth });
    await oauthLogin.signIn({ username: username, password: PASSWORD });
    const refreshed = await oauthLogin.refresh();
    expect(refreshed.refresh_token).toBe(oauthLogin.session.refreshToken);

    const v3 = createAuthV3Client({ baseUrl });
    await v3.signIn({ username: username, password: PASSWORD });
    expect(await v3.currentUser()).toMatchObject({ id: Number(id), userName: username });

    const web = await webSessionAs(env, (await env.srv.services.store.users.byId(id))!);
    expect(await webUser(env, web.cookie)).toBe(username);

    const held: Record<Api, string> = {
      'mts-auth': mts.accessToken!,
      'mint-auth': mint.userToken!,
      'user-token-auth': uta.token!,
      'oauth-service': refreshed.access_token,
      'auth-v3': v3.token!,
    };
    expect(await probeAll(env, held)).toEqual(APIS.map((api) => [api, accepted(api, id)]));
    const oldOauth = [
      { accessToken: registration.access_token, refreshToken: registration.refreshToken },
      { accessToken: oauthLogin.session.accessToken!, refreshToken: oauthLogin.session.refreshToken! },
    ];

    // Reset the password through the mailed link.
    await oauth.resetPassword(email);
    const resetMail = await smtp.next(email);
    const token = new URL(linkIn(resetMail)).searchParams.get('token');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await createOauthServiceClient({ baseUrl, ...env.oauth }).confirmResetPassword(token!, NEW_PASSWORD);

    // Every old token of every API is dead at once.
    expect(await probeAll(env, held)).toEqual(APIS.map((api) => [api, TOKEN_REFUSED[api]]));
    const probe = probes(env);
    for (const old of oldOauth) {
      expect(await probe['oauth-service'](old.accessToken)).toEqual(TOKEN_REFUSED['oauth-service']);
      const again = createOauthServiceClient({ baseUrl, ...env.oauth, session: { refreshToken: old.refreshToken } });
      expect(await answer(() => again.refresh())).toEqual({ status: 400, body: { error: 'invalid_grant', message: expect.any(String) } });
    }
    expect(await probe['auth-v3'](web.loginOtherToken)).toEqual(TOKEN_REFUSED['auth-v3']);
    expect(await webUser(env, web.cookie)).toBeUndefined();
    // Only the person's tokens: the admin who opened the web session is still signed in.
    expect(await probe['auth-v3'](web.adminToken)).toMatchObject({ status: 200 });

    // The new password signs in everywhere; the old one nowhere.
    const sign = signIns(env);
    for (const api of APIS) {
      expect({ api, ...(await sign[api](username, PASSWORD)) }).toEqual({ api, ...CREDENTIALS_REFUSED[api] });
      expect({ api, ...(await sign[api](email, PASSWORD)) }).toEqual({ api, ...CREDENTIALS_REFUSED[api] });
    }
    const fresh = {} as Record<Api, string>;
    for (const api of APIS) {
      const r = await sign[api](api === 'user-token-auth' ? email : username, NEW_PASSWORD);
      expect({ api, ...r }).toEqual({ api, ...signedIn(api, id) });
      fresh[api] = tokenOf(api, r.body);
    }
    expect(await probeAll(env, fresh)).toEqual(APIS.map((api) => [api, accepted(api, id)]));
  });
});

describe('tokens are scoped to the API that issued them', () => {
  let tokens: Record<Api, string>;
  let user: User;
  let oauthRefresh: string;

  beforeAll(async () => {
    user = await makeUser(env);
    await env.srv.services.store.users.update(user.id, { emailVerifiedAt: new Date() });
    tokens = await signInEverywhere(env, user.username, user.id);
    const oauth = createOauthServiceClient({ baseUrl: env.srv.baseUrl, ...env.oauth });
    await oauth.signIn({ username: user.username, password: PASSWORD });
    oauthRefresh = oauth.session.refreshToken!;
  });

  const pairs = APIS.flatMap((issuer) => APIS.map((presentedTo) => [issuer, presentedTo] as const));

  test.each(pairs)('a %s token presented to %s', async (issuer, presentedTo) => {
    const r = await probes(env)[presentedTo](tokens[issuer]);
    expect(r).toEqual(issuer === presentedTo ? accepted(presentedTo, user.id) : TOKEN_REFUSED[presentedTo]);
  });

  test.each(APIS)('a %s token is no oauth-service refresh token', async (issuer) => {
    const c = createOauthServiceClient({ baseUrl: env.srv.baseUrl, ...env.oauth, session: { refreshToken: tokens[issuer] } });
    expect(await answer(() => c.refresh())).toEqual({ status: 400, body: { error: 'invalid_grant', message: expect.any(String) } });
  });

  test('an oauth-service refresh token is no token of any API (its own refresh grant aside)', async () => {
    const probe = probes(env);
    for (const api of APIS) expect({ api, ...(await probe[api](oauthRefresh)) }).toEqual({ api, ...TOKEN_REFUSED[api] });
    const c = createOauthServiceClient({ baseUrl: env.srv.baseUrl, ...env.oauth, session: { refreshToken: oauthRefresh } });
    expect(await answer(() => c.refresh())).toMatchObject({ status: 200 });
  });
});

describe('two-factor authentication cannot be bypassed', () => {
  test('a TOTP user signs in through auth-v3 with a code only; elsewhere the right password alone is answered as a wrong one', async () => {
    const user = await makeUser(env, { totp: true });
    const sign = signIns(env);

    expect(await sign['auth-v3'](user.username, PASSWORD)).toEqual({
      status: 401,
      body: { errorCode: 'AuthAccountTwoFactorProtected', errorDescription: expect.any(String) },
    });
    expect(await sign['auth-v3'](user.username, PASSWORD, wrongCode(user.secret!))).toEqual({
      status: 401,
      body: { errorCode: 'AuthAccountTwoFactorProtected', errorDescription: expect.any(String) },
    });
    expect(await sign['auth-v3'](user.username, WRONG_PASSWORD, totpCode(user.secret!))).toEqual(CREDENTIALS_REFUSED['auth-v3']);

    for (const api of APIS.filter((a) => a !== 'auth-v3')) {
      for (const identifier of [user.username, user.email!]) {
        const right = await sign[api](identifier, PASSWORD);
        const wrong = await sign[api](identifier, WRONG_PASSWORD);
        expect({ api, identifier, right }).toEqual({ api, identifier, right: CREDENTIALS_REFUSED[api] });
        expect(right).toEqual(wrong);
      }
    }
    const issued = await env.srv.db.knex('tokens').where({ user_id: user.id }).count<{ count: string | number }[]>('* as count');
    expect(Number(issued[0]!.count)).toBe(0);

    expect(await sign['auth-v3'](user.username, PASSWORD, totpCode(user.secret!))).toEqual(signedIn('auth-v3', user.id));
  });

  test('registering the name or email of a TOTP user again issues no token for them', async () => {
    const user = await makeUser(env, { totp: true });
    const baseUrl = env.srv.baseUrl;
    const oauth = createOauthServiceClient({ baseUrl, ...env.oauth });
    expect(await answer(() => oauth.register({ username: user.username, email: uniqueEmail('other'), password: PASSWORD, accept_terms: 1 }))).toEqual({
      status: 409,
      body: { error: 'conflict', message: expect.any(String) },
    });
    expect(await answer(() => oauth.register({ username: `other_${user.id}`, email: user.email!, password: PASSWORD, accept_terms: 1 }))).toEqual({
      status: 409,
      body: { error: 'conflict', message: expect.any(String) },
    });
    const app = await env.srv.services.clients.create('application', 'cross-api tests');
    const mint = createMintAuthClient({ baseUrl, application: { id: app.client.clientId, secret: app.secret! } });
    expect(await answer(() => mint.register({ username: user.username, password: PASSWORD, firstname: 'X', lastname: 'Y' }))).toEqual({
      status: 403,
      body: { response: 'The username has already existed' },
    });
    expect(
      await answer(() => createMtsAuthClient({ baseUrl, ...env.oauth }).register({ email: user.email!, password: PASSWORD, firstName: 'X', lastName: 'Y' })),
    ).toEqual({ status: 406, body: expect.stringMatching(/already registered/) });
    const issued = await env.srv.db.knex('tokens').where({ user_id: user.id }).count<{ count: string | number }[]>('* as count');
    expect(Number(issued[0]!.count)).toBe(0);
  });

  describe('the right password without the code counts as a failed login, as a wrong one does', () => {
    // Otherwise a guess followed by known-wrong passwords would tell, by when
    // the lockout comes, whether the guess was right, with no second factor.
    let strict: Env;
    beforeAll(async () => {
      strict = await startEnv({ THROTTLE_ACCOUNT_MAX_FAILURES: '3', THROTTLE_LOCKOUT_SECONDS: '300' });
    });
    afterAll(async () => {
      await strict?.srv.close();
    });

    test.each([
      ['the right password', PASSWORD],
      ['a wrong password', WRONG_PASSWORD],
    ])('three sign-ins with %s without a code lock the account', async (_what, password) => {
      const user = await makeUser(strict, { totp: true });
      const sign = signIns(strict);
      for (const api of ['mts-auth', 'mint-auth', 'user-token-auth'] as const) {
        expect(await sign[api](user.username, password)).toEqual(CREDENTIALS_REFUSED[api]);
      }
      expect(await sign['auth-v3'](user.username, PASSWORD, totpCode(user.secret!))).toEqual({
        status: 429,
        body: { errorCode: expect.any(String), errorDescription: expect.any(String) },
      });
    });

    test('two such sign-ins do not lock it', async () => {
      const user = await makeUser(strict, { totp: true });
      const sign = signIns(strict);
      expect(await sign['oauth-service'](user.username, PASSWORD)).toEqual(CREDENTIALS_REFUSED['oauth-service']);
      expect(await sign['mint-auth'](user.username, PASSWORD)).toEqual(CREDENTIALS_REFUSED['mint-auth']);
      expect(await sign['auth-v3'](user.username, PASSWORD, totpCode(user.secret!))).toEqual(signedIn('auth-v3', user.id));
    });
  });
});

describe('a disabled user', () => {
  test('is refused by all five APIs at once, existing tokens included', async () => {
    const user = await makeUser(env);
    await env.srv.services.store.users.update(user.id, { emailVerifiedAt: new Date() });
    const tokens = await signInEverywhere(env, user.username, user.id);
    const oauth = createOauthServiceClient({ baseUrl: env.srv.baseUrl, ...env.oauth });
    await oauth.signIn({ username: user.email!, password: PASSWORD });
    const web = await webSessionAs(env, user);
    expect(await probeAll(env, tokens)).toEqual(APIS.map((api) => [api, accepted(api, user.id)]));
    expect(await webUser(env, web.cookie)).toBe(user.username);

    await env.srv.services.store.users.update(user.id, { disabled: true });

    expect(await probeAll(env, tokens)).toEqual(APIS.map((api) => [api, TOKEN_REFUSED[api]]));
    expect(await probes(env)['oauth-service'](oauth.session.accessToken!)).toEqual(TOKEN_REFUSED['oauth-service']);
    expect(await answer(() => oauth.refresh())).toEqual({ status: 400, body: { error: 'invalid_grant', message: expect.any(String) } });
    expect(await probes(env)['auth-v3'](web.loginOtherToken)).toEqual(TOKEN_REFUSED['auth-v3']);
    expect(await webUser(env, web.cookie)).toBeUndefined();
    const sign = signIns(env);
    for (const api of APIS) {
      expect({ api, ...(await sign[api](user.username, PASSWORD)) }).toEqual({ api, ...CREDENTIALS_REFUSED[api] });
    }
  });
});
