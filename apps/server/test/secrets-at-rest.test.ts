// Nothing secret at rest or in logs: one full flow through all five APIs
// (registrations, every kind of sign-in and token, refresh, a mint
// application token, auth-v3 TOTP login, loginOther and authByToken,
// password reset and email verification mailed to the outbox, revocation and
// logout), with NODE_ENV=production and the server logging at `trace` into a
// buffer. Every raw secret the flow saw is collected; then every column of
// every table (as text) and every log line are searched for each of them.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  createAuthV3Client,
  createMintAuthClient,
  createMtsAuthClient,
  createOauthServiceClient,
  createUserTokenAuthClient,
} from '../../../packages/client/src/index.ts';
import { isSealed } from '@polyauth/store';
import { newTotpSecret, totpCode } from '../src/identity/totp.ts';
import { startServer, type TestServer } from './harness.ts';
import { uniqueEmail } from './helpers.ts';

let srv: TestServer;
let outbox: string;
const logLines: string[] = [];
/** Every raw secret the flow handled, by what it was. */
const secrets = new Map<string, string>();

function keep(what: string, value: string | undefined): string {
  if (!value) throw new Error(`the flow got no ${what}`);
  secrets.set(`${what}`, value);
  return value;
}

/**
 * The token of the link in a new mail of the outbox for `to` (raw .eml
 * files). A reset mail leaves after the answer: waits for it (bounded).
 */
async function mailedToken(to: string, seen: Set<string>): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const file of readdirSync(outbox).sort()) {
      if (seen.has(file)) continue;
      // quoted-printable: soft line breaks, then =XX escapes (a link's "=" is "=3D").
      const eml = readFileSync(path.join(outbox, file), 'utf8')
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      if (!eml.includes(`To: ${to}`)) continue;
      const link = /https?:\/\/[^\s<>"]+/.exec(eml)?.[0];
      if (!link) continue; // still being written
      seen.add(file);
      // ?token=… (reset page, possibly after a #fragment) or /valid_email/<token>.
      const token = /[?&]token=([^&#\s]+)/.exec(link)?.[1] ?? new URL(link).pathname.split('/').pop()!;
      return decodeURIComponent(token);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no new mail to ${to} in the outbox`);
}

beforeAll(async () => {
  outbox = mkdtempSync(path.join(tmpdir(), 'polyauth-secrets-outbox-'));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  srv = await startServer(
    {
      NODE_ENV: 'production',
      BCRYPT_COST: '10',
      VALIDATE_RESPONSES: 'true',
      LOG_LEVEL: 'trace',
      MAIL_OUTBOX_DIR: outbox,
      MAIL_MAX_PER_HOUR: '1000',
      MAIL_MAX_PER_HOUR_PER_IP: '100000',
    },
    { log: pino({ level: 'trace' }, sink) },
  );
});

afterAll(async () => {
  await srv?.close();
  rmSync(outbox, { recursive: true, force: true });
});

describe('secrets at rest and in logs', () => {
  test('a full flow through the five APIs leaves no raw secret in any table or log line', async () => {
    const baseUrl = srv.baseUrl;
    const s = srv.services;
    const seenMail = new Set<string>();

    // Credentials of the clients and the mint application (made as the admin CLI does).
    const oauthClient = await s.clients.create('oauth', 'secrets test');
    const oauth = { clientId: oauthClient.client.clientId, clientSecret: keep('oauth client secret', oauthClient.secret) };
    const application = await s.clients.create('application', 'secrets test app');
    const app = { id: application.client.clientId, secret: keep('application secret', application.secret) };

    // oauth-service: register (tokens), sign in, refresh.
    const email = uniqueEmail('secret');
    const username = email.split('@')[0]!;
    const password = keep('password', 'Secret-Password-Alpha-0001');
    const oauthApi = createOauthServiceClient({ baseUrl, ...oauth });
    const reg = await oauthApi.register({ username, email, password, accept_terms: 1 });
    keep('oauth-service register access token', reg.access_token);
    keep('oauth-service register refresh token', reg.refreshToken);
    const signedIn = await oauthApi.signIn({ username, password });
    keep('oauth-service access token', signedIn.access_token);
    keep('oauth-service refresh token', signedIn.refresh_token);
    keep('oauth-service refreshed access token', (await oauthApi.refresh()).access_token);

    // Email verification: mailed to the outbox, then used.
    await oauthApi.sendEmailLink(); // answers once the mail is written
    const verifyToken = keep('email verification token', await mailedToken(email, seenMail));
    await oauthApi.verifyEmail(verifyToken);

    // mts-auth: register another user with the client, sign in, call.
    const mts = createMtsAuthClient({ baseUrl, ...oauth });
    const mtsEmail = uniqueEmail('secret-mts');
    const mtsPassword = keep('mts-auth password', 'Secret-Password-Bravo-0002');
    await mts.register({ email: mtsEmail, password: mtsPassword, firstName: 'M', lastName: 'T' });
    keep('mts-auth access token', (await mts.signIn({ username: mtsEmail, password: mtsPassword })).access_token);
    await mts.currentUser();

    // mint-auth: sign up with the application, sign in with and without it.
    const mintApp = createMintAuthClient({ baseUrl, application: app });
    const mintUser = uniqueEmail('secret-mint').split('@')[0]!;
    const mintPassword = keep('mint-auth password', 'Secret-Password-Charlie-0003');
    keep('mint-auth register token', (await mintApp.register({ username: mintUser, password: mintPassword, firstname: 'Mi', lastname: 'Nt' })).access_token);
    keep('mint-auth application token', (await mintApp.signIn({ username: mintUser, password: mintPassword })).access_token);
    const mint = createMintAuthClient({ baseUrl });
    keep('mint-auth user token', (await mint.signIn({ username, password })).access_token);
    await mint.currentUser();

    // user-token-auth: sign in (with an expiry), bump, log out.
    const uta = createUserTokenAuthClient({ baseUrl });
    keep('user-token-auth token', (await uta.signIn({ username, password }, { expirationTime: new Date(Date.now() + 3_600_000).toISOString() })).token);
    await uta.bump();
    await uta.signOut();

    // auth-v3: an ADMIN with TOTP signs in with a code, signs in as the user, and the web link is used.
    const adminEmail = uniqueEmail('secret-admin');
    const adminPassword = keep('admin password', 'Secret-Password-Delta-0004');
    const admin = await s.accounts.register(
      { username: adminEmail.split('@')[0]!, email: adminEmail, firstName: 'A', lastName: 'D', password: adminPassword },
      { api: 'test', ip: '127.0.0.1' },
    );
    await s.store.users.update(admin.id, { role: 'ADMIN' });
    const domain = await s.store.domains.create(`secrets-${process.pid}-${Date.now()}`);
    const user = (await s.store.users.byIdentifier(username))!;
    await s.store.domains.addMember(domain.id, admin.id);
    await s.store.domains.addMember(domain.id, user.id);
    const totpSecret = keep('TOTP secret', newTotpSecret());
    await s.store.users.setTotp(admin.id, totpSecret);
    const v3 = createAuthV3Client({ baseUrl });
    keep('auth-v3 token', (await v3.signIn({ username: admin.username, password: adminPassword, code: totpCode(totpSecret) })).token);
    const other = keep('auth-v3 loginOther token', (await v3.signInAs(user.username)).token);
    await v3.currentUser();
    const web = await fetch(v3.authByTokenUrl(other, '/web/'), { redirect: 'manual' });
    expect(web.status).toBe(303);
    keep('web session cookie', /polyauth_web=([^;]+)/.exec(web.headers.get('set-cookie') ?? '')?.[1]);
    await v3.signOut();

    // Password reset through the outbox, then every session of the user revoked.
    await oauthApi.resetPassword(email);
    const resetToken = keep('password reset token', await mailedToken(email, seenMail));
    const newPassword = keep('new password', 'Secret-Password-Echo-0005');
    await oauthApi.confirmResetPassword(resetToken, newPassword);
    const again = createOauthServiceClient({ baseUrl, ...oauth });
    keep('refresh token after reset', (await again.signIn({ username, password: newPassword })).refresh_token);
    await again.signOut();
    await s.lastLogins.flush();

    // The TOTP secret is sealed in its row, and the server still opens it.
    const row = await srv.db.knex('users').where({ id: admin.id }).first('totp_secret');
    expect(isSealed(row.totp_secret)).toBe(true);
    expect((await s.store.users.byId(admin.id))!.totpSecret).toBe(totpSecret);

    // Every table, every column, as text.
    const tables = (
      await srv.db.knex.raw(`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`)
    ).rows.map((r: { table_name: string }) => r.table_name) as string[];
    expect(tables).toEqual(expect.arrayContaining(['users', 'tokens', 'one_time_tokens', 'clients', 'throttle', 'audit_log']));
    const dump: string[] = [];
    for (const t of tables) {
      const rows = (await srv.db.knex.raw(`select t::text as row from "${t}" t`)).rows as Array<{ row: string }>;
      for (const r of rows) dump.push(`${t}: ${r.row}`);
    }
    expect(dump.length).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(20);
    expect(logLines.join('')).toContain('mail written to the outbox');

    const hits: string[] = [];
    for (const [what, value] of secrets) {
      const forms = new Set([value, encodeURIComponent(value), value.toLowerCase()]);
      for (const line of dump) if ([...forms].some((f) => line.includes(f) || line.toLowerCase().includes(f.toLowerCase()))) hits.push(`${what} in the database: ${line.slice(0, 200)}`);
      for (const line of logLines) if ([...forms].some((f) => line.includes(f))) hits.push(`${what} in the log: ${line.slice(0, 300)}`);
    }
    expect(hits).toEqual([]);
    expect(secrets.size).toBeGreaterThanOrEqual(20);
  }, 120_000);
});
