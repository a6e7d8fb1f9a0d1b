// npm run new:api -- <name> [--mount /path] [--title "Title"]
//
// Scaffolds one more API, as the README's "Adding a sixth API" describes it:
//   specs/<name>.yaml                      one operation (GET /status) and the API's error dialect
//   redocly.yaml                           its `apis:` entry (lint, generated types, docs page)
//   apps/server/src/apis/<name>/           the handler map (index.ts) and the dialect (dialect.ts)
//   apps/server/src/apis/index.ts          the one line of wiring (plus its import)
//   packages/client/src/<name>.ts          create<Name>Client, exported from the package
//   apps/server/test/<name>.test.ts        the operation over HTTP, through the client too
//   CHANGELOG.md                           the API's first version
// then regenerates packages/api-types (`npm run generate`). The docs build
// one page per `apis:` entry, so the new API has its page and index card.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const MOUNT = /^\/[a-z0-9][a-z0-9_-]*(?:\/[a-z0-9][a-z0-9_-]*)*$/;
/** First path segments the server itself serves. */
const RESERVED = new Set(['docs', 'specs', 'web', 'healthz', 'readyz', 'metrics']);

export interface ScaffoldOptions {
  name: string;
  mount?: string;
  title?: string;
  /** Date of the first changelog entry (default: today, UTC). */
  date?: string;
}

const camel = (id: string) => id.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const pascal = (id: string) => camel(id).replace(/^./, (c) => c.toUpperCase());

/** The files to write and the edits to make, checked before anything is touched. */
export function plan(root: string, opts: ScaffoldOptions): { files: Array<[string, string]>; edits: Array<[string, string]> } {
  const { name } = opts;
  if (!NAME.test(name)) throw new Error(`"${name}" is not an API id: lower-case letters and digits, words joined by single dashes (e.g. acme-auth)`);
  const mount = opts.mount ?? `/api/${name}`;
  if (!MOUNT.test(mount)) throw new Error(`--mount ${mount}: a path like /api/${name} (lower-case segments, no trailing slash)`);
  if (RESERVED.has(mount.split('/')[1]!)) throw new Error(`--mount ${mount}: /${mount.split('/')[1]} is served by the server itself`);
  const title = opts.title ?? name;
  const date = opts.date ?? new Date().toISOString().slice(0, 10);
  const c = camel(name);
  const P = pascal(name);
  KINDS = readKinds(root);
  IDENTITY_KINDS = readIdentityKinds(root);

  const read = (f: string) => readFileSync(path.join(root, f), 'utf8');
  const redocly = read('redocly.yaml');
  const ids = [...redocly.matchAll(/^ {2}([a-z0-9-]+):\s*$/gm)].map((m) => m[1]!);
  if (ids.includes(name)) throw new Error(`${name} is already an API (redocly.yaml)`);
  if (ids.map(camel).includes(c)) throw new Error(`${name} would clash with ${ids.find((i) => camel(i) === c)} (same identifier ${c})`);
  for (const f of [`specs/${name}.yaml`, `apps/server/src/apis/${name}`, `packages/client/src/${name}.ts`, `apps/server/test/${name}.test.ts`]) {
    if (existsSync(path.join(root, f))) throw new Error(`${f} exists already`);
  }
  for (const id of ids) {
    const spec = existsSync(path.join(root, `specs/${id}.yaml`)) ? read(`specs/${id}.yaml`) : '';
    const used = /^servers:\n {2}- url: (\S+)/m.exec(spec)?.[1];
    if (used && (used === mount || mount.startsWith(`${used}/`) || (used !== '/' && used.startsWith(`${mount}/`)))) {
      throw new Error(`--mount ${mount} overlaps ${id}'s mount ${used}`);
    }
  }

  // redocly.yaml: the entry after the last one of `apis:`
  const entry = `  ${name}:\n    root: specs/${name}.yaml\n    x-openapi-ts:\n      output: packages/api-types/src/${name}.ts\n`;
  const apisBlock = /^apis:\n(?: {2,}.*\n|\s*\n)*/m.exec(redocly);
  if (!apisBlock) throw new Error('redocly.yaml has no `apis:` section');
  const apisEnd = apisBlock.index + apisBlock[0].trimEnd().length + 1;
  const newRedocly = `${redocly.slice(0, apisEnd)}${entry}${redocly.slice(apisEnd)}`;

  // apps/server/src/apis/index.ts: import + the one line in the list
  const index = read('apps/server/src/apis/index.ts');
  const lastImport = [...index.matchAll(/^import .*;\n/gm)].at(-1);
  const listStart = index.indexOf('const byId = {');
  const listEnd = listStart < 0 ? -1 : index.indexOf('} satisfies Record<ApiId, Api>;', listStart);
  if (!lastImport || listEnd < 0) throw new Error('apps/server/src/apis/index.ts no longer has the shape new:api edits (imports, then `const byId = {...} satisfies Record<ApiId, Api>;`)');
  const afterImports = lastImport.index + lastImport[0].length;
  const newIndex = `${index.slice(0, afterImports)}import { ${c}Api } from './${name}/index.ts';\n${index.slice(afterImports, listEnd)}  '${name}': ${c}Api,\n${index.slice(listEnd)}`;

  const clientIndex = read('packages/client/src/index.ts');
  const changelog = existsSync(path.join(root, 'CHANGELOG.md')) ? read('CHANGELOG.md') : '# Changelog\n';
  const newChangelog = `${changelog.trimEnd()}\n\n## ${name}\n\n### 0.1.0 — ${date}\n\n- First version, scaffolded by \`npm run new:api\`: \`GET /status\` under \`${mount}\`; errors are \`{error, message}\`.\n`;

  return {
    files: [
      [`specs/${name}.yaml`, specTemplate(name, title, mount)],
      [`apps/server/src/apis/${name}/dialect.ts`, dialectTemplate(name, c, P)],
      [`apps/server/src/apis/${name}/index.ts`, handlersTemplate(name, c, P)],
      [`packages/client/src/${name}.ts`, clientTemplate(name, c, P, mount)],
      [`apps/server/test/${name}.test.ts`, testTemplate(name, P, mount)],
    ],
    edits: [
      ['redocly.yaml', newRedocly],
      ['apps/server/src/apis/index.ts', newIndex],
      ['packages/client/src/index.ts', `${clientIndex.trimEnd()}\nexport * from './${name}.ts';\n`],
      ['CHANGELOG.md', newChangelog],
    ],
  };
}

export function scaffold(root: string, opts: ScaffoldOptions): string[] {
  const { files, edits } = plan(root, opts);
  for (const [file, text] of [...files, ...edits]) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  execFileSync(process.execPath, [path.join(root, 'scripts/generate.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  return [...files.map(([f]) => f), ...edits.map(([f]) => f), `packages/api-types/src/${opts.name}.ts`, 'packages/api-types/src/index.ts'];
}

/* -------------------------------- templates ------------------------------- */

/** The server's error kinds (http/errors.ts `statusOfKind`), read when scaffolding so the dialect covers every one. */
let KINDS: Array<readonly [string, number]> = [];

/** The kinds of identity refusal (identity/errors.ts `IdentityProblem`), read the same way. */
let IDENTITY_KINDS: string[] = [];
/** A new API's first answer to each (a kind not listed here starts as a 400). */
const IDENTITY_ANSWER: Record<string, string> = {
  identifier_taken: 'conflict',
  domain_name_taken: 'conflict',
  weak_password: 'bad_request',
  invalid_credentials: 'unauthorized',
  second_factor: 'unauthorized',
  forbidden: 'forbidden',
  not_found: 'not_found',
  dead_link: 'not_found',
};
function readIdentityKinds(root: string): string[] {
  const src = readFileSync(path.join(root, 'apps/server/src/identity/errors.ts'), 'utf8');
  const union = /export type IdentityProblem =([\s\S]*?);\n/.exec(src)?.[1];
  const kinds = [...(union ?? '').matchAll(/kind: '([a-z_]+)'/g)].map((m) => m[1]!);
  if (!kinds.length) throw new Error('apps/server/src/identity/errors.ts has no IdentityProblem union to read the identity kinds from');
  return kinds;
}
function readKinds(root: string): Array<readonly [string, number]> {
  const src = readFileSync(path.join(root, 'apps/server/src/http/errors.ts'), 'utf8');
  const block = /export const statusOfKind[^=]*=\s*\{([^}]*)\}/.exec(src)?.[1];
  const kinds = [...(block ?? '').matchAll(/^\s*([a-z_]+):\s*(\d{3}),/gm)].map((m) => [m[1]!, Number(m[2])] as const);
  if (!kinds.length) throw new Error('apps/server/src/http/errors.ts has no statusOfKind map to read the error kinds from');
  return kinds;
}

function specTemplate(name: string, title: string, mount: string): string {
  return `openapi: 3.1.0
info:
  title: ${name}
  version: 0.1.0
  summary: ${JSON.stringify(`${title}: describe what this API is for.`)}
  license:
    name: MIT
    identifier: MIT
  description: |
    ${title}, served by polyauth under \`${mount}\` over the shared user store.
    Scaffolded by \`npm run new:api\`: replace this text with what the API is,
    where its contract comes from, and every choice made where that contract
    is vague.

    Every error, including validation errors, unknown paths (404) and methods
    (405), is \`{error, message}\` (schema \`Error\`): \`error\` is a stable
    machine code, \`message\` a human-readable explanation that may change.
servers:
  - url: ${mount}
    description: ${name} is mounted at ${mount} on the polyauth server.
tags:
  - name: status
    description: Whether the API answers.
security: []
paths:
  /status:
    get:
      operationId: getStatus
      tags: [status]
      summary: Whether the API answers
      description: |
        Answers the API's id and version. No authentication.
      responses:
        '200':
          description: The API answers.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Status'
        '400':
          $ref: '#/components/responses/BadRequest'
        '500':
          $ref: '#/components/responses/ServerError'
components:
  schemas:
    Error:
      type: object
      description: The error body of every error response of this API.
      required: [error, message]
      properties:
        error:
          type: string
          description: A stable machine-readable code.
          enum:
${KINDS.map(([k]) => `            - ${k}`).join('\n')}
        message:
          type: string
          description: A human-readable explanation; its wording may change.
          minLength: 1
          maxLength: 1000
      unevaluatedProperties: false
    Status:
      type: object
      required: [api, version]
      properties:
        api:
          type: string
          const: ${name}
        version:
          type: string
          description: The spec's info.version.
      unevaluatedProperties: false
  responses:
    BadRequest:
      description: The request is malformed; the message says how.
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    ServerError:
      description: An unexpected error; details are logged, never returned.
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
`;
}

function dialectTemplate(name: string, c: string, P: string): string {
  return `import type { ${c} } from '@polyauth/api-types';
import { ApiError, codeGuard, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect } from '../../http/errors.ts';

type ${P}Error = ${c}.components['schemas']['Error'];
/** The spec's closed list of \`error\` codes. */
export type ${P}Code = ${P}Error['error'];

/** Every code of the spec's enum (a missing or extra one does not compile), so that a code read back is checked, not cast. */
const is${P}Code = codeGuard<${P}Code>({
${KINDS.map(([k]) => `  ${k}: true,`).join('\n')}
});

/** A ${name} failure; its code, if any, one of the spec's. */
export const ${P}ApiError = ApiError<${P}Code>;

const codeOfKind: Record<ErrorKind, ${P}Code> = {
${KINDS.map(([k]) => `  ${k}: '${k}',`).join('\n')}
};

/** How ${name} answers each way identity/ can refuse: every kind (a new one is a compile error here). */
const identity: IdentityDialect = {
${IDENTITY_KINDS.map((k) => (k === 'throttled' ? `  throttled: (p) => tooManyRequests<${P}Code>(p.retryAfter),` : `  ${k}: (_p, e) => new ${P}ApiError('${IDENTITY_ANSWER[k] ?? 'bad_request'}', e.message),`)).join('\n')}
};

/** ${name}'s error body: the spec's \`Error\`, \`{error, message}\`. */
function body(err: ApiError): ${P}Error {
  const error = is${P}Code(err.code) ? err.code : codeOfKind[err.kind];
  return { error, message: err.message.slice(0, 1000) || 'The request failed.' };
}

export const ${c}Error: ErrorDialect = { identity, body };
`;
}

function handlersTemplate(name: string, c: string, P: string): string {
  return `import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { defineApi } from '../../http/api-router.ts';
import { specPath } from '../../paths.ts';
import type { Services } from '../../services.ts';
import { ${c}Error } from './dialect.ts';

const API = '${name}';

/** The spec's info.version, read once. */
const VERSION = String((parseYaml(readFileSync(specPath(API), 'utf8')) as { info: { version: string } }).info.version);

/**
 * ${P}: one handler per operationId of specs/${name}.yaml (checked against
 * the generated operations of this id), mounted at its servers[0].url.
 */
export const ${c}Api = defineApi({
  id: API,
  dialect: ${c}Error,
  handlers: (_services: Services) => ({
    async getStatus() {
      return { status: 200, body: { api: API, version: VERSION } };
    },
  }),
});
`;
}

function clientTemplate(name: string, c: string, P: string, mount: string): string {
  return `import createClient from 'openapi-fetch';
import type { ${c} } from '@polyauth/api-types';
import { apiBaseUrl, PolyauthError, type BaseClientOptions } from './common.ts';
import { mounts } from './mounts.ts';
import { checked, type ApiClient } from './paths.ts';

type Schemas = ${c}.components['schemas'];
export type ${P}Status = Schemas['Status'];
export type ${P}ErrorBody = Schemas['Error'];

/** An error answer of ${name}, in its dialect. */
export class ${P}Error extends PolyauthError<${P}ErrorBody> {
  override name = '${P}Error';
  declare readonly api: '${name}';
}

export interface ${P}Client {
  /** The typed openapi-fetch client: every operation of specs/${name}.yaml. */
  readonly api: ApiClient<${c}.paths>;
  /** GET /status. */
  status(): Promise<${P}Status>;
}

/** A client of ${name} (mounted at \`${mount}\`). */
export function create${P}Client(opts: BaseClientOptions): ${P}Client {
  const api = checked(createClient<${c}.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, mounts['${name}']), fetch: opts.fetch, headers: { accept: 'application/json' } }));
  return {
    api,
    async status() {
      const { data, error, response } = await api.GET('/status');
      if (!data) throw new ${P}Error('${name}', response.status, error as ${P}ErrorBody, error?.message ?? \`${name} answered \${response.status}\`);
      return data;
    },
  };
}
`;
}

function testTemplate(name: string, P: string, mount: string): string {
  return `// ${name} over real HTTP: its operation, its error dialect, its client.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { create${P}Client } from '../../../packages/client/src/index.ts';
import { startServer, type TestServer } from './harness.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.close();
});

const url = (p: string) => \`\${srv.baseUrl}${mount}\${p}\`;

async function expectError(r: Response, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\\/json/);
  const body = (await r.json()) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(error);
}

describe('${name}', () => {
  test('GET /status answers the API and its version, to many callers at once', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(url('/status'))));
    for (const r of answers) {
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ api: '${name}', version: expect.stringMatching(/^\\d+\\.\\d+\\.\\d+/) });
    }
  });

  test('the client factory calls it', async () => {
    const client = create${P}Client({ baseUrl: srv.baseUrl });
    expect((await client.status()).api).toBe('${name}');
  });

  test('bad requests get the dialect', async () => {
    await expectError(await fetch(url('/nope')), 404, 'not_found');
    await expectError(await fetch(url('/status'), { method: 'DELETE' }), 405, 'method_not_allowed');
  });
});
`;
}

async function main(argv: string[]): Promise<number> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const opts: Partial<ScaffoldOptions> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--mount') opts.mount = argv[++i];
    else if (arg === '--title') opts.title = argv[++i];
    else if (arg === '--help' || arg === '-h' || arg.startsWith('-') || opts.name !== undefined) {
      console.log('usage: npm run new:api -- <name> [--mount /api/<name>] [--title "Title"]');
      return arg === '--help' || arg === '-h' ? 0 : 2;
    } else opts.name = arg;
  }
  if (!opts.name) {
    console.error('usage: npm run new:api -- <name> [--mount /api/<name>] [--title "Title"]');
    return 2;
  }
  try {
    const written = scaffold(root, opts as ScaffoldOptions);
    console.log(`new:api: ${opts.name} scaffolded:\n  ${written.join('\n  ')}`);
    console.log('next: describe the API in its spec, npm run typecheck, npm run lint, and its test:');
    console.log(`  NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects unit apps/server/test/${opts.name}.test.ts`);
    return 0;
  } catch (err) {
    console.error(`new:api: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
