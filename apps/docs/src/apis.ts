// Reads the list of APIs from redocly.yaml (`apis:`) and, from each spec,
// what the docs index and the browser test need. No API is named here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { parseChangelog, type ChangelogEntry } from './changelog.ts';

export interface ApiOperation {
  operationId: string;
  method: string;
  path: string;
  summary: string;
  /** The first tag: Redoc groups operations under it. */
  tag: string | undefined;
}

export interface ApiDoc {
  /** The key under `apis:` in redocly.yaml, e.g. `mts-auth`. */
  id: string;
  /** Absolute path of the spec. */
  specFile: string;
  title: string;
  version: string;
  /** `servers[0].url`: where the server mounts the API. */
  mount: string;
  /** `info.summary`, or else the first paragraph of `info.description`, as plain text. */
  summary: string;
  operations: ApiOperation[];
  /** This API's CHANGELOG.md entries, newest first (empty without a CHANGELOG.md). */
  changelog: ChangelogEntry[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const API_ID = /^[a-z0-9][a-z0-9-]*$/;
const SUMMARY_MAX = 280;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The APIs of `<root>/redocly.yaml`, in the order it lists them. */
export async function loadApiDocs(root: string, configFile = 'redocly.yaml'): Promise<ApiDoc[]> {
  const configPath = path.resolve(root, configFile);
  const config: unknown = parse(await readFile(configPath, 'utf8'));
  const apis = isObject(config) ? config.apis : undefined;
  if (!isObject(apis) || Object.keys(apis).length === 0) {
    throw new Error(`${configPath}: no \`apis:\` entries`);
  }
  const changelog = await readFile(path.resolve(root, 'CHANGELOG.md'), 'utf8').then(parseChangelog, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return new Map<string, ChangelogEntry[]>();
    throw err;
  });
  return Promise.all(
    Object.entries(apis).map(([id, entry]) => {
      if (!API_ID.test(id)) throw new Error(`${configPath}: API id "${id}" must be lower-case letters, digits and dashes`);
      if (!isObject(entry) || typeof entry.root !== 'string') throw new Error(`${configPath}: apis.${id}.root is missing`);
      return loadSpec(id, path.resolve(path.dirname(configPath), entry.root), changelog.get(id) ?? []);
    }),
  );
}

async function loadSpec(id: string, specFile: string, changelog: ChangelogEntry[]): Promise<ApiDoc> {
  const spec: unknown = parse(await readFile(specFile, 'utf8'));
  const fail = (what: string): never => {
    throw new Error(`${specFile}: ${what}`);
  };
  if (!isObject(spec)) return fail('not an OpenAPI document');
  const info = isObject(spec.info) ? spec.info : fail('info is missing');
  const title = typeof info.title === 'string' ? info.title : fail('info.title is missing');
  const version = typeof info.version === 'string' ? info.version : fail('info.version is missing');
  const server = Array.isArray(spec.servers) && isObject(spec.servers[0]) ? spec.servers[0] : undefined;
  const mount = typeof server?.url === 'string' ? server.url : fail('servers[0].url (the mount path) is missing');
  const summary =
    typeof info.summary === 'string' && info.summary.trim()
      ? plain(info.summary)
      : typeof info.description === 'string'
        ? firstParagraph(info.description)
        : '';

  const operations: ApiOperation[] = [];
  for (const [p, item] of Object.entries(isObject(spec.paths) ? spec.paths : {})) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      operations.push({
        operationId: typeof op.operationId === 'string' ? op.operationId : fail(`${method.toUpperCase()} ${p} has no operationId`),
        method,
        path: p,
        summary: typeof op.summary === 'string' ? plain(op.summary) : '',
        tag: Array.isArray(op.tags) && typeof op.tags[0] === 'string' ? op.tags[0] : undefined,
      });
    }
  }
  return { id, specFile, title, version, mount, summary, operations, changelog };
}

function plain(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The first paragraph of a Markdown description, without the commonest inline marks. */
export function firstParagraph(markdown: string): string {
  const para = markdown.trim().split(/\n\s*\n/)[0] ?? '';
  const text = plain(para.replace(/`([^`]*)`/g, '$1').replace(/\*\*([^*]+)\*\*/g, '$1').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1'));
  if (text.length <= SUMMARY_MAX) return text;
  const cut = text.slice(0, SUMMARY_MAX);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), SUMMARY_MAX / 2))}…`;
}
