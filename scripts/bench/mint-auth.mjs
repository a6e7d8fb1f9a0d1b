// mint-auth rows: the password grant on POST /auth/authorize (bcrypt-bound)
// and GET /auth/token_info with a UserToken (a cheap authenticated route:
// token row, coalesced last-used touch).
import { randomBytes } from 'node:crypto';

export const api = 'mint-auth';

const BASE = '/mint/api/v1';
const JSON_TYPE = 'application/json';
const suffix = randomBytes(3).toString('hex');

export async function prepare({ admin }) {
  // The password grant needs no Application header (only sign-ups do), so no
  // mint application. One account: valid logins never count towards the
  // throttle, so the same credentials can be replayed. (Each admin CLI call
  // is a process start: fixtures are kept few.)
  const email = `bench-mint-${suffix}@example.com`;
  const password = `bench password ${suffix}`;
  await admin('user', 'create', '--username', email, '--email', email, '--password', password, '--first-name', 'Bench', '--last-name', 'Mint');
  return { users: [{ email, password }] };
}

export async function setup({ fixtures: f, request }) {
  const login = (u) => ({
    method: 'POST',
    path: `${BASE}/auth/authorize`,
    headers: { 'content-type': JSON_TYPE },
    body: JSON.stringify({ grant_type: 'password', username: u.email, password: u.password }),
  });
  const tokens = [];
  for (const u of f.users) {
    const r = login(u);
    const res = await request(r.method, r.path, { headers: r.headers, body: r.body });
    if (res.status !== 200 || !res.json?.access_token) throw new Error(`mint-auth bench login failed: ${res.status} ${res.body}`);
    tokens.push(res.json.access_token);
  }
  return [
    {
      name: 'mint-auth POST /auth/authorize',
      bound: 'bcrypt',
      target: 0.85,
      requests: f.users.map(login),
      verifyBody: (body) => body.includes('"access_token"'),
    },
    {
      name: 'mint-auth GET /auth/token_info',
      bound: 'route',
      target: 0.5,
      requests: tokens.map((t) => ({ method: 'GET', path: `${BASE}/auth/token_info`, headers: { authorization: `UserToken ${t}` } })),
      verifyBody: (body) => body.startsWith('{"user":') && body.includes('"token_type":"user"'),
    },
  ];
}
