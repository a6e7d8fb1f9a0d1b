// TOTP secrets at rest: sealed by the store, plain rows from before
// encryption sealed at startup (safely with several servers starting at once),
// and a secret no configured key opens fails closed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createSecretBox, createStore, isSealed, secretKeyId, UNREADABLE_TOTP_SECRET, type User } from '@polyauth/store';
import { ConfigError, loadConfig } from '../src/config.ts';
import { newTotpSecret, totpCode } from '../src/identity/totp.ts';
import { createConfiguredStore, startServices } from '../src/services.ts';
import { startServer, TEST_TOTP_KEY, type TestServer } from './harness.ts';
import { uniqueEmail } from './helpers.ts';

let srv: TestServer;
const PASSWORD = 'totp at rest password';

beforeAll(async () => {
  srv = await startServer();
});

afterAll(async () => {
  await srv?.close();
});

async function newUser(): Promise<User> {
  const email = uniqueEmail('totp-rest');
  return srv.services.accounts.register(
    { username: email.split('@')[0]!, email, firstName: 'T', lastName: 'R', password: PASSWORD },
    { api: 'test', ip: '127.0.0.1' },
  );
}

const stored = async (id: string) => (await srv.db.knex('users').where({ id }).first('totp_secret')).totp_secret as string | null;

async function v3Login(user: User, code: string): Promise<number> {
  const r = await fetch(`${srv.baseUrl}/api/v3/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userName: user.username, password: PASSWORD, code }),
  });
  return r.status;
}

describe('TOTP secrets at rest', () => {
  test('setTotp seals the secret under TOTP_ENCRYPTION_KEY; the server reads it back and a code signs in', async () => {
    const user = await newUser();
    const secret = newTotpSecret();
    await srv.services.store.users.setTotp(user.id, secret);
    const row = (await stored(user.id))!;
    expect(row.startsWith(`enc1:${secretKeyId(Buffer.from(TEST_TOTP_KEY, 'hex'))}:`)).toBe(true);
    expect(row).not.toContain(secret);
    expect((await srv.services.store.users.byId(user.id))!.totpSecret).toBe(secret);
    expect(await v3Login(user, totpCode(secret))).toBe(200);
  });

  test('plain rows from before encryption are sealed at startup, once, by servers starting in parallel; an enrolment meanwhile is kept', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser()));
    const secrets = users.map(() => newTotpSecret());
    for (const [i, u] of users.entries()) await srv.db.knex('users').where({ id: u.id }).update({ totp_secret: secrets[i] });
    // Read as they are until sealed: nothing breaks in between.
    expect((await srv.services.store.users.byId(users[0]!.id))!.totpSecret).toBe(secrets[0]);

    const config = loadConfig({ NODE_ENV: 'test', TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY, JWT_SECRET: 'x'.repeat(32), PURGE_INTERVAL_SECONDS: '0' });
    const other = createConfiguredStore(config, srv.db.knex);
    const results = await Promise.all([
      startServices(srv.services),
      other.users.sealTotpSecrets({ all: false, batchSize: 2 }),
      other.users.sealTotpSecrets({ all: false, batchSize: 4 }),
    ]);
    const sealedCount = (results[1]!.sealed + results[2]!.sealed) as number;
    for (const [i, u] of users.entries()) {
      const row = (await stored(u.id))!;
      expect(isSealed(row)).toBe(true);
      expect(row).not.toContain(secrets[i]);
      expect((await srv.services.store.users.byId(u.id))!.totpSecret).toBe(secrets[i]);
    }
    expect(sealedCount).toBeLessThanOrEqual(6);

    // A second start finds nothing to do.
    expect(await other.users.sealTotpSecrets({ all: false })).toMatchObject({ sealed: 0, unreadable: 0 });
  });

  test('a secret sealed under a key that is not configured fails closed: the code is still asked for, no code matches', async () => {
    const user = await newUser();
    const secret = newTotpSecret();
    const foreign = createStore(srv.db.knex, { totpBox: createSecretBox(Buffer.alloc(32, 9)) });
    await foreign.users.setTotp(user.id, secret);
    expect((await srv.services.store.users.byId(user.id))!.totpSecret).toBe(UNREADABLE_TOTP_SECRET);
    expect(await v3Login(user, totpCode(secret))).toBe(401);
    // A store with no key at all neither writes a plain secret nor reads a sealed one.
    const keyless = createStore(srv.db.knex);
    await expect(keyless.users.setTotp(user.id, secret)).rejects.toThrow(/no TOTP encryption key/);
    expect((await keyless.users.byId(user.id))!.totpSecret).toBe(UNREADABLE_TOTP_SECRET);
  });

  test('config: TOTP_ENCRYPTION_KEY is required in production and checked everywhere, old keys too', () => {
    const prod = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    expect(() => loadConfig(prod)).toThrow(ConfigError);
    expect(() => loadConfig(prod)).toThrow(/TOTP_ENCRYPTION_KEY is required when NODE_ENV=production/);
    expect(() => loadConfig({ ...prod, TOTP_ENCRYPTION_KEY: 'too short' })).toThrow(/TOTP_ENCRYPTION_KEY must be 32 bytes/);
    expect(() => loadConfig({ ...prod, TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY, TOTP_ENCRYPTION_KEYS_OLD: `${'ab'.repeat(32)}, nope` })).toThrow(
      /TOTP_ENCRYPTION_KEYS_OLD: key 2 must be 32 bytes/,
    );
    const ok = loadConfig({ ...prod, TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY, TOTP_ENCRYPTION_KEYS_OLD: `${'ab'.repeat(32)},${Buffer.alloc(32, 7).toString('base64')}` });
    expect(ok.totpEncryption.key).toEqual(Buffer.from(TEST_TOTP_KEY, 'hex'));
    expect(ok.totpEncryption.oldKeys).toEqual([Buffer.alloc(32, 0xab), Buffer.alloc(32, 7)]);
    expect(ok.purge).toEqual({ intervalSeconds: 600, batchSize: 1000, retentionSeconds: 86_400 });
    expect(() => loadConfig({ ...prod, TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY, PURGE_BATCH_SIZE: '0' })).toThrow(/PURGE_BATCH_SIZE must be a whole number/);
    // Development: no key needed (a random one is kept in DATA_DIR by the server and the CLI).
    expect(loadConfig({}).totpEncryption.key).toBeUndefined();
  });
});
