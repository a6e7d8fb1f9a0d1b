import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type ResponseDoc = { $ref?: string; content?: Record<string, { schema?: unknown }> };
type OperationDoc = { operationId?: string; responses?: Record<string, ResponseDoc> };

/** '#/a/b~1c' → the JSON pointer's segments. */
function pointer(ref: string): string[] {
  return ref.replace(/^#\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Checks the error bodies an API sends against the spec, as the validator
 * checks handlers' replies (VALIDATE_RESPONSES, on in tests): the body of an
 * error of a matched operation must fit the JSON schema that operation
 * declares for its status. Any other error (an unknown path or method, a
 * failure before the match, a status the operation does not list, such as a
 * 503 during an outage) must fit one of the error bodies the spec declares:
 * the API's dialect. Returns what is wrong, or undefined.
 */
export function errorContract(spec: Record<string, unknown>): (operationId: string | undefined, status: number, body: unknown) => string | undefined {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats.default(ajv);
  ajv.addSchema({ ...spec, $id: 'spec' });

  /** The JSON schema pointer of a response's application/json body, following a $ref to components. */
  const bodyPointer = (response: ResponseDoc, at: string[]): string[] | undefined => {
    let path = at;
    let doc = response;
    if (doc.$ref) {
      path = pointer(doc.$ref);
      doc = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], spec) as ResponseDoc;
    }
    return doc?.content?.['application/json']?.schema === undefined ? undefined : [...path, 'content', 'application/json', 'schema'];
  };
  const compiled = new Map<string, ValidateFunction>();
  const validatorAt = (path: string[]): ValidateFunction => {
    const ref = `spec#/${path.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
    let v = compiled.get(ref);
    if (!v) compiled.set(ref, (v = ajv.compile({ $ref: ref })));
    return v;
  };

  // operationId → status → schema path; every error body schema the spec declares
  const byOperation = new Map<string, Map<string, string[]>>();
  const errorBodies = new Map<string, string[]>();
  for (const [name, response] of Object.entries(((spec.components as { responses?: Record<string, ResponseDoc> } | undefined)?.responses ?? {}))) {
    const at = bodyPointer(response, ['components', 'responses', name]);
    if (at) errorBodies.set(at.join('/'), at);
  }
  for (const [p, item] of Object.entries((spec.paths ?? {}) as Record<string, Record<string, OperationDoc>>)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op?.operationId) continue;
      const statuses = new Map<string, string[]>();
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const at = bodyPointer(response, ['paths', p, method, 'responses', status]);
        if (!at) continue;
        statuses.set(status, at);
        if (Number(status) >= 400) errorBodies.set(at.join('/'), at);
      }
      byOperation.set(op.operationId, statuses);
    }
  }

  return (operationId, status, body) => {
    const declared = operationId === undefined ? undefined : byOperation.get(operationId)?.get(String(status));
    const candidates = declared ? [declared] : [...errorBodies.values()];
    const problems: string[] = [];
    for (const at of candidates) {
      const validate = validatorAt(at);
      if (validate(body)) return undefined;
      problems.push(ajv.errorsText(validate.errors));
    }
    return `the ${status} body of ${operationId ?? 'an unmatched request'} does not match the spec: ${problems.join(' | ')}`;
  };
}
