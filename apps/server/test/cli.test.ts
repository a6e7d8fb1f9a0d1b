// The admin CLI, spawned for real as `npm run admin` runs it (`node
// --liftoff-only apps/server/bin/polyauth.mjs`, the compile cache on, on this
// Node 24) against a fresh embedded store in a temp DATA_DIR, and against a
// fresh Postgres database when DATABASE_URL is set. Each database is then
// opened in-process to check what the CLI wrote. Spawns are slow on PGlite
// (~4 s to open the store), so each test chains several commands.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { createSecretBox, createStore, isSealed, openPglite, openPostgres, secretKeyId, type Database, type Store } from '@polyauth/store';
import { ClientCredentials } from '../src/identity/clients.ts';
import { sha256 } from '../src/identity/secrets.ts';
import { newTotpSecret, totpCode } from '../src/identity/totp.ts';
import { TEST_TOTP_KEY } from './harness.ts';

const CLI = fileURLToPath(new URL('../bin/polyauth.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only the environment given (plus PATH and HOME). */
function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    // as `npm run admin` runs it (--liftoff-only: see cli/main.ts)
    const child = spawn(process.execPath, ['--liftoff-only', CLI, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        NODE_ENV: 'test',
        BCRYPT_COST: '4',
        TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY,
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

/** The one JSON document a --json run printed, after checking it is the only thing on stdout. */
function jsonOf(r: Run): unknown {
  const text = r.stdout.trim();
  expect(text.split('\n')).toHaveLength(1);
  return JSON.parse(text);
}

function expectOk(r: Run): unknown {
  if (r.code !== 0) throw new Error(`CLI failed (${r.code}): ${r.stderr}\n${r.stdout}`);
  return jsonOf(r);
}

/** A failed --json run: the exit code, the message on stderr, `{"error"}` alone on stdout. */
function expectFailure(r: Run, code: number, message: RegExp): void {
  expect(r.code).toBe(code);
  const body = jsonOf(r) as { error: string };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatch(message);
  expect(r.stderr).toMatch(message);
}

interface Backend {
  name: string;
  /** What the CLI is given to find the database. */
  env: Record<string, string>;
  /** The same database, in this process. */
  open(): Promise<Database>;
  cleanup(): Promise<void>;
  /** Spawns are cheap here (no store to boot): run the extra, repetitive checks too. */
  cheap: boolean;
}

function pgliteBackend(): Backend {
  const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-cli-'));
  return {
    name: 'PGlite',
    env: { DATA_DIR: dir },
    open: () => openPglite({ dataDir: path.join(dir, 'pglite') }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    cheap: false,
  };
}

async function postgresBackend(url: string): Promise<Backend> {
  // An empty database: the CLI must run the migrations itself.
  const name = `polyauth_cli_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
  await admin.knex.raw(`create database ${name}`);
  await admin.close();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    name: 'Postgres',
    env: { DATABASE_URL: u.toString() },
    open: () => openPostgres({ url: u.toString(), poolMax: 2 }),
    cleanup: async () => {
      const again = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
      await again.knex.raw(`drop database if exists ${name} with (force)`);
      await again.close();
    },
    cheap: true,
  };
}

/** The TOTP key the CLI runs with (TEST_TOTP_KEY) and the one a rotation moves to. */
const TOTP_KEY = Buffer.from(TEST_TOTP_KEY, 'hex');
const NEW_TOTP_KEY = Buffer.alloc(32, 0x42);

async function withDb<T>(backend: Backend, fn: (store: Store, db: Database) => Promise<T>, totpKey = TOTP_KEY): Promise<T> {
  const db = await backend.open();
  try {
    return await fn(createStore(db.knex, { totpBox: createSecretBox(totpKey) }), db);
  } finally {
    await db.close();
  }
}

function suite(makeBackend: () => Promise<Backend>) {
  let backend: Backend;
  const cli = (...args: string[]) => runCli(args, backend.env);
  const cliWith = (env: Record<string, string>, ...args: string[]) => runCli(args, { ...backend.env, ...env });

  // Filled in by the first tests, checked by the later ones.
  let client: { id: string; secret: string; name: string };
  let app: { id: string; secret: string; name: string };
  let ada: { id: string; username: string; email: string; role: string };
  let bob: { id: string; username: string; email: string; role: string };
  let domain: { id: string; name: string };
  let totp: { uri: string; secret: string };
  const adaPassword = 'correct horse battery staple';

  beforeAll(async () => {
    backend = await makeBackend();
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  // One scenario, command after command, each step building on the last:
  // run as one test, so no test depends on another having run first, and a
  // failure names the step it happened in.
  const steps: Array<[string, () => Promise<void>]> = [];

  steps.push([
    'client create and application create print {id, secret, name} once; human output says the secret is shown once',
    async () => {
      client = expectOk(await cli('client', 'create', '--name', 'Smoke client', '--json')) as typeof client;
      expect(Object.keys(client).sort()).toEqual(['id', 'name', 'secret']);
      expect(client.id).toMatch(/^oc_[\w-]+$/);
      expect(client.secret).toMatch(/^[\w-]{43}$/);
      expect(client.name).toBe('Smoke client');

      app = expectOk(await cli('application', 'create', '--name', 'Mint app', '--json')) as typeof app;
      expect(Object.keys(app).sort()).toEqual(['id', 'name', 'secret']);
      expect(app.id).toMatch(/^app_[\w-]+$/);
      expect(app.secret).not.toBe(client.secret);

      const human = await cli('client', 'create', '--name', 'Human');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/id: +oc_/);
      expect(human.stdout).toMatch(/secret: +[\w-]{43}/);
      expect(human.stdout).toMatch(/shown only this once/);
      expect(() => JSON.parse(human.stdout)).toThrow();

      // a public OAuth client: no secret at all, and said so
      const pub = expectOk(await cli('client', 'create', '--name', 'Public client', '--public', '--json')) as { id: string; secret: null; name: string };
      expect(pub).toEqual({ id: expect.stringMatching(/^oc_[\w-]+$/), secret: null, name: 'Public client' });
      expect((await cli('client', 'create', '--name', 'Public human', '--public')).stdout).toMatch(/secret: none/);
      // a mint application always has a secret: --public is not one of its options
      expectFailure(await cli('application', 'create', '--name', 'x', '--public', '--json'), 2, /unknown option '--public'/);
    },
  ]);

  steps.push([
    'user create (password from POLYAUTH_PASSWORD or --password), domain create, add-member, totp enroll',
    async () => {
      ada = expectOk(
        await cliWith(
          { POLYAUTH_PASSWORD: adaPassword },
          'user', 'create', '--username', 'ada', '--email', 'Ada@Example.com', '--first-name', 'Ada', '--last-name', 'Lovelace', '--role', 'ADMIN', '--json',
        ),
      ) as typeof ada;
      expect(Object.keys(ada).sort()).toEqual(['email', 'id', 'role', 'username']);
      expect(ada).toMatchObject({ username: 'ada', email: 'Ada@Example.com', role: 'ADMIN' });
      expect(ada.id).toMatch(/^\d+$/);

      bob = expectOk(await cli('user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password', 'bob password 1', '--json')) as typeof bob;
      expect(bob.role).toBe('LINGUIST');

      // The email is a sign-in name too, whoever holds it as a username or an email.
      expectFailure(await cli('user', 'create', '--username', 'ada2', '--email', 'ADA@example.com', '--password', 'whatever123', '--json'), 1, /already taken/);
      if (backend.cheap) {
        expectFailure(await cli('user', 'create', '--username', 'ada@example.com', '--email', 'x@example.com', '--password', 'whatever123', '--json'), 1, /already taken/);
      }

      domain = expectOk(await cli('domain', 'create', '--name', 'Acme', '--json')) as typeof domain;
      expect(Object.keys(domain).sort()).toEqual(['id', 'name']);
      expect(domain.name).toBe('Acme');
      expectFailure(await cli('domain', 'create', '--name', 'ACME', '--json'), 1, /already exists/);

      const added = expectOk(await cli('domain', 'add-member', 'acme', 'ada@example.com', '--json'));
      expect(added).toEqual({ domain, user: { id: ada.id, username: 'ada' }, added: true });
      if (backend.cheap) {
        expect(expectOk(await cli('domain', 'add-member', domain.id, 'ada', '--json'))).toMatchObject({ added: false });
      }

      totp = expectOk(await cli('totp', 'enroll', 'ada', '--json')) as typeof totp;
      expect(Object.keys(totp).sort()).toEqual(['secret', 'uri']);
      expect(totp.secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(totp.uri).toMatch(/^otpauth:\/\/totp\/polyauth:ada\?/);
      expect(new URL(totp.uri).searchParams.get('secret')).toBe(totp.secret);
    },
  ]);

  steps.push([
    'what the CLI stored: hashed secrets that verify, bcrypt at the configured cost, TOTP, memberships, audit as admin-cli',
    async () => {
      await withDb(backend, async (store) => {
        const credentials = new ClientCredentials(store);
        expect(await credentials.verify('oauth', client.id, client.secret)).toMatchObject({ clientId: client.id, name: 'Smoke client' });
        expect(await credentials.verify('oauth', client.id, app.secret)).toBeUndefined();
        expect(await credentials.verify('application', app.id, app.secret)).toMatchObject({ clientId: app.id });
        expect(await credentials.verify('oauth', app.id, app.secret)).toBeUndefined();

        const rows = await store.knex('clients').whereIn('client_id', [client.id, app.id]);
        expect(rows).toHaveLength(2);
        for (const row of rows) {
          const secret = row.client_id === client.id ? client.secret : app.secret;
          expect(row.secret_hash).toBe(sha256(secret));
          expect(JSON.stringify(row)).not.toContain(secret);
        }

        const userRow = await store.knex('users').where({ id: ada.id }).first();
        expect(userRow.password_hash).toMatch(/^\$2[aby]\$04\$/);
        expect(JSON.stringify(userRow)).not.toContain(adaPassword);
        expect(bcrypt.compareSync(adaPassword, userRow.password_hash)).toBe(true);
        const stored = await store.users.byId(ada.id);
        expect(stored).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', role: 'ADMIN', totpSecret: totp.secret });
        expect(totpCode(stored!.totpSecret!, 0)).toBe(totpCode(totp.secret, 0));
        expect(await store.domains.isMember(domain.id, ada.id)).toBe(true);

        const audit = await store.audit.recent({ limit: 100 });
        const actions = audit.map((e) => e.action).sort();
        expect(actions).toEqual(
          ['application.create', ...Array(4).fill('client.create'), 'domain.create', 'domain.member_add', 'totp.enroll', 'user.create', 'user.create'].sort(),
        );
        // the public client has no secret hash at all, so no secret can ever verify
        const publicClient = (await store.clients.list('oauth')).find((c) => c.name === 'Public client');
        expect(publicClient).toMatchObject({ secretHash: null });
        expect(await credentials.verify('oauth', publicClient!.clientId, '')).toBeUndefined();
        for (const e of audit) {
          expect(e.api).toBe('admin-cli');
          expect(e.detail).toMatchObject({ actor: 'admin-cli' });
        }
        const everything = JSON.stringify(audit);
        for (const secret of [client.secret, app.secret, adaPassword, totp.secret]) expect(everything).not.toContain(secret);

        // Tokens for the revocation commands below: two APIs, one of them issued through the client.
        const oauthClient = await credentials.find('oauth', client.id);
        await store.tokens.insert({ api: 'mint-auth', kind: 'user', tokenHash: sha256('bob-mint'), userId: bob.id });
        await store.tokens.insert({ api: 'auth-v3', kind: 'session', tokenHash: sha256('bob-v3'), userId: bob.id });
        await store.tokens.insert({ api: 'auth-v3', kind: 'session', tokenHash: sha256('bob-v3-2'), userId: bob.id });
        await store.tokens.insert({ api: 'mts-auth', kind: 'access', tokenHash: sha256('ada-mts'), userId: ada.id, clientId: oauthClient!.id });
      });
    },
  ]);

  steps.push([
    'token revoke (one API, then all), user set-role / disable / enable, client revoke, totp disable, remove-member, lists',
    async () => {
      expect(expectOk(await cli('token', 'revoke', '--user', 'bob@example.com', '--api', 'mint-auth', '--json'))).toEqual({ revoked: 1 });
      if (backend.cheap) {
        expect(expectOk(await cli('token', 'revoke', '--user', bob.id, '--api', 'mint-auth', '--json'))).toEqual({ revoked: 0 });
      }

      // Enrolling two-factor ends the sessions opened with the password alone.
      expect(Object.keys(expectOk(await cli('totp', 'enroll', 'bob', '--json')) as object).sort()).toEqual(['secret', 'uri']);
      const disabled = expectOk(await cli('user', 'disable', 'bob', '--json'));
      expect(disabled).toMatchObject({ id: bob.id, username: 'bob', disabled: true, revokedTokens: 0 });
      if (backend.cheap) expect(expectOk(await cli('token', 'revoke', '--user', 'bob', '--json'))).toEqual({ revoked: 0 });
      expect(expectOk(await cli('user', 'enable', 'bob', '--json'))).toMatchObject({ id: bob.id, disabled: false });

      expect(expectOk(await cli('user', 'set-role', 'bob', 'PROJECT_MANAGER', '--json'))).toEqual({ ...bob, role: 'PROJECT_MANAGER' });
      if (backend.cheap) {
        expect(expectOk(await cliWith({ POLYAUTH_PASSWORD: 'bob new password' }, 'user', 'set-password', 'bob', '--json'))).toMatchObject({
          id: bob.id,
          revokedTokens: 0,
        });
      }

      expect(expectOk(await cli('client', 'revoke', client.id, '--json'))).toEqual({ id: client.id, revoked: true, revokedTokens: 1 });
      if (backend.cheap) {
        expectFailure(await cli('client', 'revoke', client.id, '--json'), 1, /no active OAuth client/);
        // An application id is not an OAuth client id.
        expectFailure(await cli('client', 'revoke', app.id, '--json'), 1, /no active OAuth client/);
      }

      expect(expectOk(await cli('totp', 'disable', 'ada', '--json'))).toEqual({ id: ada.id, username: 'ada', totp: false });
      expect(expectOk(await cli('domain', 'remove-member', 'Acme', 'ada', '--json'))).toEqual({ domain, user: { id: ada.id, username: 'ada' }, removed: true });

      const clients = expectOk(await cli('client', 'list', '--json')) as Array<Record<string, unknown>>;
      expect(clients.map((c) => Object.keys(c).sort())).toEqual(Array(4).fill(['createdAt', 'id', 'name', 'public', 'revoked']));
      expect(clients.filter((c) => c.public).map((c) => c.name).sort()).toEqual(['Public client', 'Public human']);
      expect(clients.find((c) => c.id === client.id)).toMatchObject({ name: 'Smoke client', revoked: true });
      expect(clients.find((c) => c.name === 'Human')).toMatchObject({ revoked: false });
      expect(Number.isNaN(Date.parse(String(clients[0]!.createdAt)))).toBe(false);

      if (backend.cheap) {
        const apps = expectOk(await cli('application', 'list', '--json'));
        expect(apps).toEqual([{ id: app.id, name: 'Mint app', createdAt: expect.any(String), revoked: false, public: false }]);
        expect(expectOk(await cli('domain', 'list', '--json'))).toEqual([{ ...domain, createdAt: expect.any(String) }]);
      }

      const users = expectOk(await cli('user', 'list', '--json')) as Array<Record<string, unknown>>;
      expect(users).toEqual([
        expect.objectContaining({ id: ada.id, username: 'ada', email: 'Ada@Example.com', role: 'ADMIN', disabled: false, totp: false }),
        expect.objectContaining({ id: bob.id, username: 'bob', role: 'PROJECT_MANAGER', disabled: false }),
      ]);
    },
  ]);

  steps.push([
    'the revocations and changes are in the database, each audited',
    async () => {
      await withDb(backend, async (store) => {
        const live = await store.knex('tokens').whereNull('revoked_at').select('api', 'user_id');
        expect(live).toEqual([]);
        expect(await new ClientCredentials(store).verify('oauth', client.id, client.secret)).toBeUndefined();
        expect(await store.users.byId(bob.id)).toMatchObject({ role: 'PROJECT_MANAGER', disabled: false });
        if (backend.cheap) {
          expect(bcrypt.compareSync('bob new password', (await store.users.byId(bob.id))!.passwordHash)).toBe(true);
        }
        expect((await store.users.byId(ada.id))!.totpSecret).toBeNull();
        expect(await store.domains.isMember(domain.id, ada.id)).toBe(false);
        const actions = (await store.audit.recent({ limit: 100 })).map((e) => e.action);
        for (const a of ['token.revoke', 'user.disable', 'user.enable', 'user.role_change', 'client.revoke', 'totp.disable', 'domain.member_remove']) {
          expect(actions).toContain(a);
        }
        const disable = (await store.audit.recent({ action: 'user.disable' }))[0]!;
        expect(disable).toMatchObject({ api: 'admin-cli', targetUserId: bob.id, detail: expect.objectContaining({ actor: 'admin-cli', revokedTokens: 0 }) });
        const enroll = (await store.audit.recent({ action: 'totp.enroll' })).find((e) => e.targetUserId === bob.id)!;
        expect(enroll).toMatchObject({ api: 'admin-cli', detail: expect.objectContaining({ replaced: false, revokedTokens: 2 }) });
      });
    },
  ]);

  steps.push([
    'TOTP secrets at rest: sealed by enroll; `totp reencrypt` moves every row (old key, legacy plain) to a new key, and refuses loudly when a key is missing',
    async () => {
      const adaSecret = newTotpSecret();
      const bobSecret = newTotpSecret();
      await withDb(backend, async (store) => {
        await store.users.setTotp(ada.id, adaSecret); // sealed under the CLI's key, like `totp enroll`
        await store.knex('users').where({ id: bob.id }).update({ totp_secret: bobSecret }); // a row from before encryption
        const row = await store.knex('users').where({ id: ada.id }).first();
        expect(isSealed(row.totp_secret)).toBe(true);
        expect(row.totp_secret).not.toContain(adaSecret);
      });

      const rotate = { TOTP_ENCRYPTION_KEY: NEW_TOTP_KEY.toString('base64'), TOTP_ENCRYPTION_KEYS_OLD: TEST_TOTP_KEY };
      const done = expectOk(await cliWith(rotate, 'totp', 'reencrypt', '--json'));
      expect(done).toEqual({ sealed: 2, unreadable: 0, total: 2, keyId: secretKeyId(NEW_TOTP_KEY) });
      // Again: nothing left to do.
      expect(expectOk(await cliWith(rotate, 'totp', 'reencrypt', '--json'))).toMatchObject({ sealed: 0, total: 2 });

      await withDb(
        backend,
        async (store) => {
          expect((await store.users.byId(ada.id))!.totpSecret).toBe(adaSecret);
          expect((await store.users.byId(bob.id))!.totpSecret).toBe(bobSecret);
          for (const r of await store.knex('users').whereNotNull('totp_secret')) {
            expect(r.totp_secret).toMatch(new RegExp(`^enc1:${secretKeyId(NEW_TOTP_KEY)}:`));
          }
          const audit = (await store.audit.recent({ action: 'totp.reencrypt' }))[0]!;
          expect(audit.detail).toMatchObject({ actor: 'admin-cli', sealed: 0, total: 2 });
        },
        NEW_TOTP_KEY,
      );

      // Rotated on without listing the key the rows are under: nothing is rewritten, exit 1 says why.
      const lost = { TOTP_ENCRYPTION_KEY: Buffer.alloc(32, 0x43).toString('hex') };
      expectFailure(await cliWith(lost, 'totp', 'reencrypt', '--json'), 1, /2 TOTP secret\(s\) could not be decrypted.*TOTP_ENCRYPTION_KEYS_OLD/);
      await withDb(backend, async (store) => expect((await store.users.byId(ada.id))!.totpSecret).toBe(adaSecret), NEW_TOTP_KEY);
    },
  ]);

  test('the admin CLI, step by step: clients, users, domains, TOTP, what was stored, revocations, lists, TOTP key rotation', async () => {
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        throw new Error(`step "${name}" failed: ${(err as Error).message}`, { cause: err });
      }
    }
  });
}

describe('admin CLI on the embedded PGlite store', () => {
  suite(async () => pgliteBackend());
});

describe('admin CLI on Postgres', () => {
  const url = process.env.DATABASE_URL;
  if (url) {
    suite(() => postgresBackend(url));
  } else {
    console.warn('[cli.test] the Postgres half is skipped: DATABASE_URL is unset');
    test.skip('needs DATABASE_URL (Postgres); set it to run the CLI against Postgres', () => undefined);
  }
});

describe('admin CLI: the embedded store is locked while another process holds it', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'polyauth-cli-lock-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test(
    'fails with the DataDirInUseError message and exit code 1, and works once the holder is gone',
    async () => {
      const env = { DATA_DIR: dir };
      const db = await openPglite({ dataDir: path.join(dir, 'pglite') });
      try {
        const json = await runCli(['user', 'list', '--json'], env);
        expectFailure(json, 1, /in use by another polyauth process/);
        expect(json.stderr).toMatch(/is in use by another polyauth process\. Stop that process, or point DATA_DIR at another directory, or set DATABASE_URL/);
      } finally {
        await db.close();
      }
      expect(expectOk(await runCli(['user', 'list', '--json'], env))).toEqual([]);
    },
  );
});

describe('admin CLI: usage errors exit 2 without touching a database', () => {
  // No DATA_DIR or DATABASE_URL that could be opened: a usage error must come first.
  const env = { DATA_DIR: '/nonexistent/polyauth-must-not-be-created' };

  test('unknown commands, missing or bad options: exit 2, {"error"} with --json', async () => {
    expectFailure(await runCli(['frobnicate', '--json'], env), 2, /unknown command 'frobnicate'/);
    expectFailure(await runCli(['client', 'create', '--json'], env), 2, /required option '--name <name>' not specified/);
    expectFailure(await runCli(['user', 'create', '--username', 'u', '--email', 'u@example.com', '--role', 'ROOT', '--json'], env), 2, /Allowed choices are ADMIN, LINGUIST, PROJECT_MANAGER/);
    expectFailure(await runCli(['token', 'revoke', '--user', 'u', '--api', 'nope', '--json'], env), 2, /Allowed choices are mts-auth/);
    expectFailure(await runCli(['user', 'create', '--username', 'a b', '--email', 'u@example.com', '--json'], env), 2, /must not contain spaces/);
    expectFailure(await runCli(['user', 'create', '--username', 'u', '--email', 'not-an-email', '--json'], env), 2, /not an email address/);
    expectFailure(await runCli(['domain', 'create', '--name', '  ', '--json'], env), 2, /must not be empty/);

    expectFailure(await runCli(['user', 'set-password', 'ada', '--json'], env), 2, /no password given/);

    const human = await runCli(['user', 'set-role', 'ada'], env);
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/missing required argument 'role'/);
  });

  test('user create without a password (no flag, no POLYAUTH_PASSWORD, no terminal) is a usage error; a weak one exits 1', async () => {
    expectFailure(await runCli(['user', 'create', '--username', 'u', '--email', 'u@example.com', '--json'], env), 2, /no password given/);
    expectFailure(
      await runCli(['user', 'create', '--username', 'u', '--email', 'u@example.com', '--password', 'short', '--json'], env),
      1,
      /at least 8 characters/,
    );
    expectFailure(
      await runCli(['user', 'create', '--username', 'u', '--email', 'u@example.com', '--json'], { ...env, POLYAUTH_PASSWORD: 'é'.repeat(40) }),
      1,
      /at most 72 bytes/,
    );
  });

  test('an unreachable database: exit 1, the reason on stderr, only {"error"} on stdout (library logs go to stderr)', async () => {
    const r = await runCli(['user', 'list', '--json'], { DATABASE_URL: 'postgres://polyauth@127.0.0.1:1/none' });
    expectFailure(r, 1, /cannot open the database: .*ECONNREFUSED/);
  });

  test('--help prints the command list and exits 0', async () => {
    const r = await runCli(['--help'], env);
    expect(r.code).toBe(0);
    for (const group of ['client', 'application', 'user', 'domain', 'token', 'totp']) expect(r.stdout).toMatch(new RegExp(`^  ${group} `, 'm'));
  });
});
