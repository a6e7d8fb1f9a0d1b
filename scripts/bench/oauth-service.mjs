// oauth-service row: the refresh grant on POST /api/oauth/token (a cheap
// route: client lookup and refresh token row, both from the live-token cache,
// and a new JWT access token, which has no row of its own). Refresh tokens are not rotated, so the same request stays valid
// however often it is repeated; setup() checks that before the bench relies
// on it, and every answer must carry the refresh token presented.
import { randomBytes } from 'node:crypto';

export const api = 'oauth-service';

const BASE = '/api/oauth';
const FORM = 'application/x-www-form-urlencoded';
const suffix = randomBytes(3).toString('hex');

export async function prepare({ admin }) {
  const client = await admin('client', 'create', '--name', `bench oauth-service ${suffix}`);
  const email = `bench-oauth-${suffix}@example.com`;
  const password = `bench password ${suffix}`;
  await admin('user', 'create', '--username', email, '--email', email, '--password', password, '--first-name', 'Bench', '--last-name', 'OAuth');
  return { client, user: { email, password } };
}

export async function setup({ fixtures: f, request }) {
  const token = (form) => request('POST', `${BASE}/token`, { form: { client_id: f.client.id, ...form } });
  // the bench client has a secret: its password grant must authenticate (client_secret_post)
  const start = await token({ grant_type: 'password', client_secret: f.client.secret, username: f.user.email, password: f.user.password });
  const refreshToken = start.json?.refresh_token;
  if (start.status !== 200 || !refreshToken) throw new Error(`oauth-service bench password grant failed: ${start.status} ${start.body}`);
  for (let i = 0; i < 2; i += 1) {
    const res = await token({ grant_type: 'refresh_token', refresh_token: refreshToken });
    if (res.status !== 200 || !res.json?.access_token) throw new Error(`oauth-service bench refresh grant failed: ${res.status} ${res.body}`);
    if (res.json.refresh_token !== refreshToken) {
      throw new Error('oauth-service rotates refresh tokens: a repeated refresh grant would be refused, the row cannot be benched as is');
    }
  }
  const sameRefreshToken = `"refresh_token":${JSON.stringify(refreshToken)}`;
  return [
    {
      name: 'oauth-service POST /api/oauth/token refresh_token',
      bound: 'route',
      target: 0.5,
      requests: [
        {
          method: 'POST',
          path: `${BASE}/token`,
          headers: { 'content-type': FORM },
          body: new URLSearchParams({ grant_type: 'refresh_token', client_id: f.client.id, refresh_token: refreshToken }).toString(),
        },
      ],
      verifyBody: (body) => body.startsWith('{"access_token":"') && body.includes(sameRefreshToken),
    },
  ];
}
