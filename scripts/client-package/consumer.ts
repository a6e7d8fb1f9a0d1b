// A small consumer of the published @polyauth/client, as another project
// would write it. scripts/client-package-check.mjs copies this folder into a
// fresh project outside the repository, installs the packed tarball there,
// type-checks it with `tsc --strict`, runs it on Node 20+ and Node 24 against
// a real polyauth server, and bundles it for the browser. It uses no Node
// built-in: only fetch, URLSearchParams, btoa and setTimeout.
import {
  createMtsAuthClient,
  createOauthServiceClient,
  MtsAuthError,
  PolyauthError,
  type mtsAuth,
  type OauthServiceSession,
} from '@polyauth/client';

export interface ConsumerConfig {
  /** The polyauth server, e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  /** An OAuth client (`admin client create`): mts-auth's Basic credentials and oauth-service's client_id. */
  clientId: string;
  clientSecret: string;
  /** A new user this run registers, then signs in as. */
  email: string;
  password: string;
}

type User = mtsAuth.components['schemas']['User'];

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`consumer check failed: ${what}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Plays the scenario; resolves one line per step (throws on the first failure). */
export async function run(config: ConsumerConfig): Promise<string[]> {
  const steps: string[] = [];
  const { baseUrl, clientId, clientSecret, email, password } = config;

  // mts-auth: register, a typed dialect error, sign in, one protected call.
  const mts = createMtsAuthClient({ baseUrl, clientId, clientSecret });
  const id = await mts.register({ firstName: 'Ada', lastName: 'Lovelace', email, password });
  try {
    await mts.signIn({ username: email, password: `${password}!` });
    throw new Error('consumer check failed: a wrong password was accepted');
  } catch (err) {
    check(err instanceof MtsAuthError && err instanceof PolyauthError, `a wrong password throws MtsAuthError, not ${String(err)}`);
    // err.body is mts-auth's error dialect, typed (a bare message string only for POST /user's 406)
    check(err.status === 400 && typeof err.body !== 'string' && err.body.error === 'invalid_grant', `wrong password: ${err.status} ${JSON.stringify(err.body)}`);
  }
  await mts.signIn({ username: email, password });
  const me: User = await mts.currentUser();
  check(me.Email === email && me.FirstName === 'Ada', `mts-auth currentUser is ${JSON.stringify(me)}`);
  // the openapi-fetch client, for any operation, with the token added
  const raw = await mts.api.GET('/user/{id}', { params: { path: { id } } });
  check(raw.response.status === 200 && raw.data?.LastName === 'Lovelace', `mts-auth .api GET /user/{id}: ${raw.response.status}`);
  steps.push(`mts-auth: registered user ${id}, signed in, currentUser and .api GET /user/{id} answered 200`);

  // oauth-service: the same person signs in; a protected call; the access
  // token expires and the next call refreshes it on its own.
  const sessions: OauthServiceSession[] = [];
  const oauth = createOauthServiceClient({ baseUrl, clientId, clientSecret, onSession: (s) => sessions.push(s) });
  const tokens = await oauth.signIn({ username: email, password });
  check(typeof tokens.refresh_token === 'string' && oauth.session.accessToken === tokens.access_token, 'oauth-service keeps its tokens');
  await oauth.sendEmailLink();
  steps.push('oauth-service: signed in, POST /send_email_link answered 200');

  const expiresAt = accessTokenExpiry(tokens.access_token);
  await sleep(Math.max(0, expiresAt - Date.now()) + 1500);
  await oauth.sendEmailLink();
  const last = sessions.at(-1);
  check(sessions.length === 2, `one automatic refresh, saw ${sessions.length - 1}`);
  check(last?.accessToken !== tokens.access_token && last?.refreshToken === tokens.refresh_token, 'a new access token, the same refresh token');
  steps.push('oauth-service: after the access token expired, the next call refreshed it on its own and answered 200');

  await oauth.signOut();
  check(oauth.session.accessToken === undefined && oauth.session.refreshToken === undefined, 'signOut forgets the tokens');
  steps.push('oauth-service: signed out (revoked on the server)');
  return steps;
}

/** When a JWT expires (its `exp`, in ms since the epoch), read without verifying it. */
function accessTokenExpiry(jwt: string): number {
  const payload = jwt.split('.')[1] ?? '';
  const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
  check(typeof claims.exp === 'number', 'the access token has an exp');
  return claims.exp * 1000;
}
