// Compares two versions of one OpenAPI 3.1 document (as @redocly/openapi-core
// bundles them: one file, local `#/components/...` references) and lists
// every change a client could notice, each classified as breaking or additive.
//
// The rule is the one oasdiff and openapi-diff follow: what a client SENDS
// (parameters, request bodies) may only get wider; what it RECEIVES
// (statuses, response bodies and headers) may only get richer, never lose
// anything it relied on nor take a type it never saw. Changes are reported
// per operation, so a shared schema narrowed once names every operation it
// breaks.

export type Severity = 'breaking' | 'additive';

export type ChangeKind =
  // breaking
  | 'path-removed'
  | 'operation-removed'
  | 'response-status-removed'
  | 'response-property-removed'
  | 'response-property-optional'
  | 'response-type-widened'
  | 'response-alternative-added'
  | 'parameter-newly-required'
  | 'parameter-removed'
  | 'property-newly-required'
  | 'request-property-removed'
  | 'request-body-newly-required'
  | 'request-body-removed'
  | 'type-narrowed'
  | 'constraint-tightened'
  | 'enum-value-removed'
  | 'request-alternative-removed'
  | 'content-type-changed'
  | 'security-changed'
  | 'header-removed'
  // additive
  | 'path-added'
  | 'operation-added'
  | 'response-status-added'
  | 'parameter-added'
  | 'parameter-no-longer-required'
  | 'property-added'
  | 'property-no-longer-required'
  | 'request-body-added'
  | 'type-widened'
  | 'constraint-loosened'
  | 'enum-value-added'
  | 'alternative-added'
  | 'content-type-added'
  | 'security-added'
  | 'header-added'
  | 'deprecated';

export interface Change {
  severity: Severity;
  kind: ChangeKind;
  /** The operation (`POST /user`) or path (`/user`) the change is seen at. */
  where: string;
  /** The change, in words. */
  message: string;
  /**
   * The `x-legacy-contract` marks crossed on the way to the change (an
   * operationId, a component name, or `Schema.property`): changing a shape
   * the legacy document fixes needs an explicit override, not only a bump.
   */
  legacy: string[];
}

type Json = Record<string, unknown>;
type Dir = 'request' | 'response';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export const LEGACY_MARK = 'x-legacy-contract';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const code = (v: unknown): string => (typeof v === 'string' ? `\`${v}\`` : `\`${JSON.stringify(v)}\``);

interface Resolved {
  node: Json;
  /** The component name when reached through `$ref: '#/components/<kind>/<name>'`. */
  name: string | undefined;
  ref: string | undefined;
}

class Doc {
  readonly root: Json;
  constructor(root: unknown) {
    if (!isObject(root)) throw new Error('not an OpenAPI document');
    this.root = root;
  }

  /** Follows local references (a chain of them too). */
  resolve(value: unknown): Resolved {
    let node = value;
    let name: string | undefined;
    let ref: string | undefined;
    for (let hops = 0; isObject(node) && typeof node.$ref === 'string'; hops += 1) {
      if (hops > 32) throw new Error(`reference loop at ${ref}`);
      ref = node.$ref as string;
      if (!ref.startsWith('#/')) throw new Error(`unbundled reference ${ref}`);
      const segments = ref.slice(2).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      name = segments.at(-1);
      node = segments.reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), this.root);
      if (node === undefined) throw new Error(`unresolvable reference ${ref}`);
    }
    return { node: isObject(node) ? node : {}, name, ref };
  }
}

/** A path template with its parameter names erased: `/user/{id}` and `/user/{userId}` are one path. */
const pathKey = (p: string): string => p.replace(/\{[^}]+\}/g, '{}');

interface Ctx {
  where: string;
  legacy: string[];
  out: Change[];
}

function push(ctx: Ctx, severity: Severity, kind: ChangeKind, message: string, legacy: string[] = []): void {
  ctx.out.push({ severity, kind, where: ctx.where, message, legacy: [...new Set([...ctx.legacy, ...legacy])] });
}

const marked = (node: Json): boolean => node[LEGACY_MARK] === true;

/** Compares two versions of one document; the old one is the contract clients rely on. */
export function diffSpecs(oldSpec: unknown, newSpec: unknown): Change[] {
  const a = new Doc(oldSpec);
  const b = new Doc(newSpec);
  const out: Change[] = [];
  const oldPaths = isObject(a.root.paths) ? a.root.paths : {};
  const newPaths = isObject(b.root.paths) ? b.root.paths : {};
  const newByKey = new Map(Object.keys(newPaths).map((p) => [pathKey(p), p]));
  const oldKeys = new Set(Object.keys(oldPaths).map(pathKey));

  for (const [p, rawItem] of Object.entries(oldPaths)) {
    const oldItem = a.resolve(rawItem).node;
    const np = newByKey.get(pathKey(p));
    const opsOf = (item: Json) => METHODS.filter((m) => isObject(item[m]));
    if (np === undefined) {
      const legacy = opsOf(oldItem).flatMap((m) => legacyOfOperation(oldItem[m] as Json));
      out.push({
        severity: 'breaking',
        kind: 'path-removed',
        where: p,
        message: `path removed (${opsOf(oldItem).map((m) => m.toUpperCase()).join(', ') || 'no operations'}): every request to it now gets 404`,
        legacy,
      });
      continue;
    }
    const newItem = b.resolve(newPaths[np]).node;
    for (const m of METHODS) {
      const where = `${m.toUpperCase()} ${np}`;
      const oldOp = oldItem[m];
      const newOp = newItem[m];
      if (isObject(oldOp) && !isObject(newOp)) {
        out.push({ severity: 'breaking', kind: 'operation-removed', where, message: 'operation removed: requests to it now get 405', legacy: legacyOfOperation(oldOp) });
      } else if (!isObject(oldOp) && isObject(newOp)) {
        out.push({ severity: 'additive', kind: 'operation-added', where, message: 'operation added', legacy: [] });
      } else if (isObject(oldOp) && isObject(newOp)) {
        const ctx: Ctx = { where, legacy: [...new Set([...legacyOfOperation(oldOp), ...legacyOfOperation(newOp)])], out };
        diffOperation(ctx, a, b, oldItem, newItem, oldOp, newOp);
      }
    }
  }
  for (const p of Object.keys(newPaths)) {
    if (!oldKeys.has(pathKey(p))) out.push({ severity: 'additive', kind: 'path-added', where: p, message: 'path added', legacy: [] });
  }
  return out;
}

function legacyOfOperation(op: Json): string[] {
  return marked(op) ? [typeof op.operationId === 'string' ? op.operationId : 'operation'] : [];
}

function diffOperation(ctx: Ctx, a: Doc, b: Doc, oldItem: Json, newItem: Json, oldOp: Json, newOp: Json): void {
  if (newOp.deprecated === true && oldOp.deprecated !== true) push(ctx, 'additive', 'deprecated', 'operation deprecated');
  diffSecurity(ctx, a, b, oldOp, newOp);
  diffParameters(ctx, a, b, [oldItem.parameters, oldOp.parameters], [newItem.parameters, newOp.parameters]);
  diffRequestBody(ctx, a, b, oldOp.requestBody, newOp.requestBody);
  diffResponses(ctx, a, b, oldOp.responses, newOp.responses);
}

/* -------------------------------- security -------------------------------- */

/** Each accepted alternative as one string: the schemes it needs, each by its definition, with scopes. */
function securityAlternatives(doc: Doc, op: Json): string[] | undefined {
  const reqs = Array.isArray(op.security) ? op.security : Array.isArray(doc.root.security) ? doc.root.security : undefined;
  if (reqs === undefined || reqs.length === 0) return undefined;
  const schemes = isObject(doc.root.components) && isObject(doc.root.components.securitySchemes) ? doc.root.components.securitySchemes : {};
  return reqs.map((req) => {
    if (!isObject(req) || Object.keys(req).length === 0) return 'no authentication';
    return Object.entries(req)
      .map(([name, scopes]) => {
        const def = doc.resolve(schemes[name]).node;
        const how = [def.type, def.scheme, def.in, def.name, def.bearerFormat].filter((v) => typeof v === 'string').join(' ');
        const sc = Array.isArray(scopes) && scopes.length ? ` scopes ${scopes.join(',')}` : '';
        return `${name} (${how})${sc}`;
      })
      .sort()
      .join(' + ');
  });
}

function diffSecurity(ctx: Ctx, a: Doc, b: Doc, oldOp: Json, newOp: Json): void {
  const before = securityAlternatives(a, oldOp);
  const after = securityAlternatives(b, newOp);
  const show = (alts: string[] | undefined) => (alts ? alts.join(' or ') : 'no authentication');
  if (before === undefined && after === undefined) return;
  if (before === undefined || after === undefined) {
    if (after === undefined || after.includes('no authentication')) {
      push(ctx, 'additive', 'security-added', `security relaxed: was ${show(before)}, now ${show(after)}`);
    } else {
      push(ctx, 'breaking', 'security-changed', `security scheme changed: was ${show(before)}, now ${show(after)}`);
    }
    return;
  }
  const lost = before.filter((alt) => !after.includes(alt) && !after.includes('no authentication'));
  if (lost.length) {
    push(ctx, 'breaking', 'security-changed', `security scheme changed: was ${show(before)}, now ${show(after)}; a client using ${lost.join(' or ')} is refused`);
  } else if (after.some((alt) => !before.includes(alt))) {
    push(ctx, 'additive', 'security-added', `security alternative added: now ${show(after)}`);
  }
}

/* ------------------------------- parameters ------------------------------- */

function collectParameters(doc: Doc, lists: unknown[]): Map<string, Json> {
  const params = new Map<string, Json>();
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const p = doc.resolve(raw).node;
      if (typeof p.name !== 'string' || typeof p.in !== 'string') continue;
      params.set(`${p.in}:${p.in === 'header' ? p.name.toLowerCase() : p.name}`, p); // operation level overrides path level
    }
  }
  return params;
}

function diffParameters(ctx: Ctx, a: Doc, b: Doc, oldLists: unknown[], newLists: unknown[]): void {
  const before = collectParameters(a, oldLists);
  const after = collectParameters(b, newLists);
  // Path parameters are matched by position: the path template is the match.
  const pathParams = (m: Map<string, Json>) => [...m.values()].filter((p) => p.in === 'path');
  const [oldPath, newPath] = [pathParams(before), pathParams(after)];
  oldPath.forEach((p, i) => {
    const q = newPath[i];
    if (q) diffSchema({ ...ctx, legacy: [...ctx.legacy, ...(marked(p) ? [`parameter ${p.name}`] : [])] }, a, b, 'request', `path parameter ${code(q.name)}`, p.schema, q.schema, new Set());
  });
  for (const [key, p] of before) {
    if (p.in === 'path') continue;
    const q = after.get(key);
    const label = `${p.in} parameter ${code(p.name)}`;
    const legacy = marked(p) ? [`parameter ${String(p.name)}`] : [];
    if (!q) {
      if (p.in === 'header') push(ctx, 'additive', 'parameter-added', `${label} removed from the spec (a header the server does not read is ignored)`);
      else push(ctx, 'breaking', 'parameter-removed', `${label} removed: a request that sends it is refused as unknown`, legacy);
      continue;
    }
    if (q.required === true && p.required !== true) push(ctx, 'breaking', 'parameter-newly-required', `${label} newly required: a request without it is refused`, legacy);
    if (p.required === true && q.required !== true) push(ctx, 'additive', 'parameter-no-longer-required', `${label} no longer required`);
    if (q.deprecated === true && p.deprecated !== true) push(ctx, 'additive', 'deprecated', `${label} deprecated`);
    diffSchema({ ...ctx, legacy: [...ctx.legacy, ...legacy] }, a, b, 'request', label, p.schema, q.schema, new Set());
  }
  for (const [key, q] of after) {
    if (q.in === 'path' || before.has(key)) continue;
    const label = `${q.in} parameter ${code(q.name)}`;
    if (q.required === true) push(ctx, 'breaking', 'parameter-newly-required', `${label} added as required: a request without it is refused`);
    else push(ctx, 'additive', 'parameter-added', `optional ${label} added`);
  }
}

/* ------------------------------ request body ------------------------------ */

function contentOf(doc: Doc, holder: Json): Map<string, Json> {
  const content = isObject(holder.content) ? holder.content : {};
  return new Map(Object.entries(content).map(([type, media]) => [type.toLowerCase(), doc.resolve(media).node]));
}

function diffRequestBody(ctx: Ctx, a: Doc, b: Doc, rawOld: unknown, rawNew: unknown): void {
  if (rawOld === undefined && rawNew === undefined) return;
  const before = rawOld === undefined ? undefined : a.resolve(rawOld);
  const after = rawNew === undefined ? undefined : b.resolve(rawNew);
  if (!after) {
    push(ctx, 'breaking', 'request-body-removed', 'request body removed: a request that sends one is refused');
    return;
  }
  if (!before) {
    if (after.node.required === true) push(ctx, 'breaking', 'request-body-newly-required', 'request body added as required: a request without one is refused');
    else push(ctx, 'additive', 'request-body-added', 'optional request body added');
    return;
  }
  if (after.node.required === true && before.node.required !== true) {
    push(ctx, 'breaking', 'request-body-newly-required', 'request body newly required: a request without one is refused');
  }
  const oldContent = contentOf(a, before.node);
  const newContent = contentOf(b, after.node);
  const gone = [...oldContent.keys()].filter((t) => !newContent.has(t));
  const added = [...newContent.keys()].filter((t) => !oldContent.has(t));
  if (gone.length) {
    push(
      ctx,
      'breaking',
      'content-type-changed',
      `request content type changed: ${gone.map(code).join(', ')} no longer accepted (accepted now: ${[...newContent.keys()].map(code).join(', ') || 'none'}); such a request gets 415`,
    );
  }
  for (const t of added) push(ctx, 'additive', 'content-type-added', `request content type ${code(t)} now accepted too`);
  for (const [type, media] of oldContent) {
    const next = newContent.get(type);
    if (next) diffSchema(ctx, a, b, 'request', `request body (${type})`, media.schema, next.schema, new Set());
  }
}

/* -------------------------------- responses ------------------------------- */

function diffResponses(ctx: Ctx, a: Doc, b: Doc, rawOld: unknown, rawNew: unknown): void {
  const before = isObject(rawOld) ? rawOld : {};
  const after = isObject(rawNew) ? rawNew : {};
  for (const [status, rawResp] of Object.entries(before)) {
    const oldResp = a.resolve(rawResp).node;
    if (!(status in after)) {
      push(ctx, 'breaking', 'response-status-removed', `response status ${status} removed: a client handling it never sees it again, and the server may no longer send it`);
      continue;
    }
    const newResp = b.resolve(after[status]).node;
    const label = `response ${status}`;

    const oldHeaders = new Map(Object.entries(isObject(oldResp.headers) ? oldResp.headers : {}).map(([k, v]) => [k.toLowerCase(), { name: k, h: a.resolve(v).node }]));
    const newHeaders = new Map(Object.entries(isObject(newResp.headers) ? newResp.headers : {}).map(([k, v]) => [k.toLowerCase(), { name: k, h: b.resolve(v).node }]));
    for (const [key, { name, h }] of oldHeaders) {
      const next = newHeaders.get(key);
      if (!next) push(ctx, 'breaking', 'header-removed', `${label}: header ${code(name)} removed`);
      else diffSchema(ctx, a, b, 'response', `${label} header ${code(name)}`, h.schema, next.h.schema, new Set());
    }
    for (const [key, { name }] of newHeaders) if (!oldHeaders.has(key)) push(ctx, 'additive', 'header-added', `${label}: header ${code(name)} added`);

    const oldContent = contentOf(a, oldResp);
    const newContent = contentOf(b, newResp);
    const gone = [...oldContent.keys()].filter((t) => !newContent.has(t));
    const added = [...newContent.keys()].filter((t) => !oldContent.has(t));
    if (gone.length) {
      push(ctx, 'breaking', 'content-type-changed', `${label}: content type changed from ${[...oldContent.keys()].map(code).join(', ')} to ${[...newContent.keys()].map(code).join(', ') || 'no body'}`);
    } else if (added.length) {
      push(ctx, 'additive', 'content-type-added', `${label}: content type ${added.map(code).join(', ')} may be answered too`);
    }
    for (const [type, media] of oldContent) {
      const next = newContent.get(type);
      if (next) diffSchema(ctx, a, b, 'response', `${label} (${type})`, media.schema, next.schema, new Set());
    }
  }
  for (const status of Object.keys(after)) {
    if (!(status in before)) push(ctx, 'additive', 'response-status-added', `response status ${status} added`);
  }
}

/* --------------------------------- schemas -------------------------------- */

const MAX_KEYS = ['maxLength', 'maxItems', 'maximum', 'exclusiveMaximum', 'maxProperties'] as const;
const MIN_KEYS = ['minLength', 'minItems', 'minimum', 'exclusiveMinimum', 'minProperties'] as const;

/** A schema with its `allOf` parts folded in (properties and required merged), and where it came from. */
interface Flat {
  s: Json;
  name: string | undefined;
  ref: string | undefined;
}

function flatten(doc: Doc, raw: unknown, depth = 0): Flat {
  const { node, name, ref } = doc.resolve(raw);
  if (!Array.isArray(node.allOf) || depth > 8) return { s: node, name, ref };
  const merged: Json = { ...node };
  delete merged.allOf;
  const props: Json = { ...(isObject(node.properties) ? node.properties : {}) };
  const required = new Set<string>(Array.isArray(node.required) ? (node.required as string[]) : []);
  for (const part of node.allOf) {
    const p = flatten(doc, part, depth + 1).s;
    for (const [k, v] of Object.entries(p)) {
      if (k === 'properties' && isObject(v)) Object.assign(props, v);
      else if (k === 'required' && Array.isArray(v)) for (const r of v) required.add(String(r));
      else if (!(k in merged)) merged[k] = v;
    }
  }
  if (Object.keys(props).length) merged.properties = props;
  if (required.size) merged.required = [...required];
  return { s: merged, name, ref };
}

/** The JSON types a schema allows, or undefined for any. `const`/`enum` without `type` give theirs. */
function typesOf(s: Json): Set<string> | undefined {
  let types: string[] | undefined;
  if (typeof s.type === 'string') types = [s.type];
  else if (Array.isArray(s.type)) types = s.type.map(String);
  else {
    const values = 'const' in s ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined;
    if (values) types = values.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v));
  }
  if (!types) return undefined;
  const set = new Set(types);
  if (s.nullable === true) set.add('null');
  return set;
}

/** Whether a value of JSON type `t` is allowed by the type set `set`. */
const covers = (set: Set<string> | undefined, t: string) => set === undefined || set.has(t) || (t === 'integer' && set.has('number'));
const showTypes = (set: Set<string> | undefined) => (set ? [...set].join(' | ') : 'any type');

function enumOf(s: Json): unknown[] | undefined {
  if ('const' in s) return [s.const];
  return Array.isArray(s.enum) ? s.enum : undefined;
}

const closed = (s: Json) => s.unevaluatedProperties === false || s.additionalProperties === false;

function diffSchema(ctx: Ctx, a: Doc, b: Doc, dir: Dir, at: string, rawOld: unknown, rawNew: unknown, seen: Set<string>): void {
  if (rawOld === undefined || rawNew === undefined) return;
  const o = flatten(a, rawOld);
  const n = flatten(b, rawNew);
  if (o.ref && n.ref) {
    const pair = `${o.ref}|${n.ref}`;
    if (seen.has(pair)) return; // recursive schema: compared once per walk
    seen = new Set(seen).add(pair);
  }
  const legacy = [...ctx.legacy];
  if (marked(o.s) || marked(n.s)) legacy.push(o.name ?? n.name ?? at);
  const c: Ctx = { ...ctx, legacy };
  const req = dir === 'request';
  const oldS = o.s;
  const newS = n.s;
  const where = at;
  // The component a keyword change lies in, so the message names what to look at.
  at = o.name && o.name === n.name ? `${where} (schema ${code(o.name)})` : where;

  if (newS.deprecated === true && oldS.deprecated !== true) push(c, 'additive', 'deprecated', `${at} deprecated`);

  // types
  const ot = typesOf(oldS);
  const nt = typesOf(newS);
  const lostTypes = ot === undefined ? (nt === undefined ? [] : ['(any)']) : [...ot].filter((t) => !covers(nt, t));
  const newTypes = nt === undefined ? (ot === undefined ? [] : ['(any)']) : [...nt].filter((t) => !covers(ot, t));
  if (req) {
    if (lostTypes.length) push(c, 'breaking', 'type-narrowed', `${at}: type narrowed from ${showTypes(ot)} to ${showTypes(nt)}: a value that was accepted is now refused`);
    else if (newTypes.length) push(c, 'additive', 'type-widened', `${at}: type widened from ${showTypes(ot)} to ${showTypes(nt)}`);
  } else if (newTypes.length) {
    push(c, 'breaking', 'response-type-widened', `${at}: type widened from ${showTypes(ot)} to ${showTypes(nt)}: a client may now receive a value it cannot read`);
  }

  // bounds: in a request a tighter bound refuses what was accepted; in a response a looser one is reported
  for (const [keys, tighter] of [
    [MAX_KEYS, (x: number, y: number) => y < x],
    [MIN_KEYS, (x: number, y: number) => y > x],
  ] as const) {
    for (const key of keys) {
      const x = typeof oldS[key] === 'number' ? (oldS[key] as number) : undefined;
      const y = typeof newS[key] === 'number' ? (newS[key] as number) : undefined;
      if (x === y) continue;
      const tightened = y !== undefined && (x === undefined || tighter(x, y));
      const words = x === undefined ? `${key} ${y} set` : y === undefined ? `${key} ${x} removed` : `${key} ${y < x ? 'lowered' : 'raised'} from ${x} to ${y}`;
      if (req && tightened) push(c, 'breaking', 'constraint-tightened', `${at}: ${words}: a value that was accepted is now refused`);
      else push(c, 'additive', 'constraint-loosened', `${at}: ${words}`);
    }
  }
  for (const key of ['pattern', 'format', 'multipleOf'] as const) {
    const x = oldS[key];
    const y = newS[key];
    if (x === y || (x === undefined && y === undefined)) continue;
    const words = x === undefined ? `${key} ${code(y)} set` : y === undefined ? `${key} ${code(x)} removed` : `${key} changed from ${code(x)} to ${code(y)}`;
    // Two patterns cannot be compared in general: a changed one counts as narrowed.
    if (req && y !== undefined) push(c, 'breaking', 'constraint-tightened', `${at}: ${words}: a value that was accepted may now be refused`);
    else push(c, 'additive', 'constraint-loosened', `${at}: ${words}`);
  }

  // enums
  const oe = enumOf(oldS);
  const ne = enumOf(newS);
  const has = (list: unknown[], v: unknown) => list.some((w) => JSON.stringify(w) === JSON.stringify(v));
  if (oe && ne) {
    const removed = oe.filter((v) => !has(ne, v));
    const added = ne.filter((v) => !has(oe, v));
    if (removed.length) {
      if (req) push(c, 'breaking', 'enum-value-removed', `${at}: enum value${removed.length > 1 ? 's' : ''} ${removed.map(code).join(', ')} removed: a request using ${removed.length > 1 ? 'them' : 'it'} is refused`);
      else push(c, 'additive', 'enum-value-removed', `${at}: value${removed.length > 1 ? 's' : ''} ${removed.map(code).join(', ')} no longer answered`);
    }
    if (added.length) {
      push(c, 'additive', 'enum-value-added', `${at}: enum value${added.length > 1 ? 's' : ''} ${added.map(code).join(', ')} added${req ? '' : ' (a client that matches every value should handle it)'}`);
    }
  } else if (!oe && ne && req) {
    push(c, 'breaking', 'type-narrowed', `${at}: now limited to ${ne.map(code).join(', ')}: any other value is refused`);
  } else if (oe && !ne && !req) {
    push(c, 'breaking', 'response-type-widened', `${at}: no longer limited to ${oe.map(code).join(', ')}`);
  } else if (oe && !ne) {
    push(c, 'additive', 'enum-value-added', `${at}: no longer limited to ${oe.map(code).join(', ')}`);
  }

  // objects
  const oldProps = isObject(oldS.properties) ? oldS.properties : {};
  const newProps = isObject(newS.properties) ? newS.properties : {};
  const oldReq = new Set(Array.isArray(oldS.required) ? oldS.required.map(String) : []);
  const newReq = new Set(Array.isArray(newS.required) ? newS.required.map(String) : []);
  const prop = (name: string) => `${where} property ${code(name)}`;
  const propLegacy = (holder: Json, name: string) => {
    const p = holder[name];
    return isObject(p) && marked(p) ? [`${o.name ?? n.name ?? 'schema'}.${name}`] : [];
  };
  const names = new Set([...Object.keys(oldProps), ...Object.keys(newProps), ...oldReq, ...newReq]);
  for (const name of names) {
    const inOld = name in oldProps || oldReq.has(name);
    const inNew = name in newProps || newReq.has(name);
    const pl = [...propLegacy(oldProps, name), ...propLegacy(newProps, name)];
    if (req) {
      if (newReq.has(name) && !oldReq.has(name)) {
        push(c, 'breaking', 'property-newly-required', `${prop(name)} ${inOld ? 'newly required' : 'added as required'}: a request without it is refused`, pl);
      } else if (oldReq.has(name) && !newReq.has(name) && inNew) {
        push(c, 'additive', 'property-no-longer-required', `${prop(name)} no longer required`);
      }
      if (inOld && !inNew) {
        if (closed(newS)) push(c, 'breaking', 'request-property-removed', `${prop(name)} removed: a request that sends it is refused (the object admits no other properties)`, pl);
        else push(c, 'additive', 'property-added', `${prop(name)} removed (now ignored)`);
      } else if (!inOld && inNew && !newReq.has(name)) {
        push(c, 'additive', 'property-added', `optional ${prop(name)} added`);
      }
    } else {
      if (inOld && !inNew) push(c, 'breaking', 'response-property-removed', `${prop(name)} removed: a client reading it gets nothing`, pl);
      else if (oldReq.has(name) && !newReq.has(name)) push(c, 'breaking', 'response-property-optional', `${prop(name)} no longer always present: a client reading it may get nothing`, pl);
      else if (!inOld && inNew) push(c, 'additive', 'property-added', `${prop(name)} added`);
    }
    if (name in oldProps && name in newProps) {
      diffSchema({ ...c, legacy: [...c.legacy, ...pl] }, a, b, dir, prop(name), oldProps[name], newProps[name], seen);
    }
  }
  if (req && closed(newS) && !closed(oldS) && (typesOf(newS)?.has('object') ?? true) && Object.keys(newProps).length) {
    push(c, 'breaking', 'type-narrowed', `${at}: no longer admits properties other than ${Object.keys(newProps).map(code).join(', ')}`);
  } else if (req && closed(oldS) && !closed(newS)) {
    push(c, 'additive', 'type-widened', `${at}: now admits other properties`);
  }

  // arrays
  if (oldS.items !== undefined && newS.items !== undefined) diffSchema(c, a, b, dir, `${where} items`, oldS.items, newS.items, seen);

  // alternatives (oneOf / anyOf): paired by component name, else by position
  for (const key of ['oneOf', 'anyOf'] as const) {
    const ol = Array.isArray(oldS[key]) ? oldS[key] : [];
    const nl = Array.isArray(newS[key]) ? newS[key] : [];
    if (!ol.length && !nl.length) continue;
    const label = (list: unknown[], doc: Doc, i: number) => doc.resolve(list[i]).name ?? `#${i + 1}`;
    const oldNames = ol.map((_, i) => label(ol, a, i));
    const newNames = nl.map((_, i) => label(nl, b, i));
    const byName = oldNames.every((x) => !x.startsWith('#')) && newNames.every((x) => !x.startsWith('#'));
    const pairs: Array<[number, number]> = [];
    const lost: string[] = [];
    oldNames.forEach((nm, i) => {
      const j = byName ? newNames.indexOf(nm) : i < nl.length ? i : -1;
      if (j >= 0) pairs.push([i, j]);
      else lost.push(nm);
    });
    const gained = newNames.filter((_, j) => !pairs.some(([, k]) => k === j));
    if (lost.length) {
      if (req) push(c, 'breaking', 'request-alternative-removed', `${at}: ${key} alternative${lost.length > 1 ? 's' : ''} ${lost.join(', ')} removed: a request of that shape is refused`);
      else push(c, 'additive', 'alternative-added', `${at}: ${key} alternative${lost.length > 1 ? 's' : ''} ${lost.join(', ')} no longer answered`);
    }
    if (gained.length) {
      if (req) push(c, 'additive', 'alternative-added', `${at}: ${key} alternative${gained.length > 1 ? 's' : ''} ${gained.join(', ')} added`);
      else push(c, 'breaking', 'response-alternative-added', `${at}: ${key} alternative${gained.length > 1 ? 's' : ''} ${gained.join(', ')} added: a client may receive a shape it does not know`);
    }
    for (const [i, j] of pairs) diffSchema(c, a, b, dir, byName ? `${where} ${key} ${code(oldNames[i])}` : `${where} ${key} #${i + 1}`, ol[i], nl[j], seen);
  }
}
