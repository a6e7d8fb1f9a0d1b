// Type-level tests of the handler map (`defineApi`), checked by `npm run
// typecheck` (tsc -p . includes apps/*/test), not run by jest. Each case below
// differs from the complete, correct map `complete` in one way only, and
// `// @ts-expect-error` fails the type-check if that way ever compiles again.
// mint-auth is used because it has three operations: authorize (a JSON body,
// a union of two grants), register and tokenInfo.
import type { mintAuth } from '@polyauth/api-types';
import { defineApi, type Handler, type Reply } from '../src/http/api-router.ts';
import type { ErrorDialect } from '../src/http/errors.ts';

type Ops = mintAuth.operations;
declare const dialect: ErrorDialect;
declare const registered: Reply<Ops['register']>;
declare const info: Reply<Ops['tokenInfo']>;

const authorize: Handler<Ops['authorize']> = async (ctx) => {
  const grant: 'password' | 'signup' = ctx.body.grant_type;
  return { status: 200, body: { user: 1, access_token: `${grant}-token`, token_type: 'user' } };
};
const register: Handler<Ops['register']> = async () => registered;
const tokenInfo: Handler<Ops['tokenInfo']> = async () => info;

/** The baseline: every operationId, nothing else, each reply declared. */
export const complete = defineApi({
  id: 'mint-auth',
  dialect,
  handlers: () => ({
    authorize,
    register,
    async tokenInfo(ctx) {
      // the context is typed by the operation: tokenInfo takes no body
      const none: undefined = ctx.body;
      void none;
      return info;
    },
  }),
});

/** A missing handler (no tokenInfo). */
export const missing = defineApi({
  id: 'mint-auth',
  dialect,
  // @ts-expect-error Property 'tokenInfo' is missing
  handlers: () => ({ authorize, register }),
});

/** An extra, misspelt handler beside a complete map. */
export const extra = defineApi({
  id: 'mint-auth',
  dialect,
  // @ts-expect-error '"tokenInfos is not an operationId of the spec"'
  handlers: () => ({ authorize, register, tokenInfo, tokenInfos: tokenInfo }),
});

/** A handler reading a request body field its operation does not have. */
export const wrongRequestBody = defineApi({
  id: 'mint-auth',
  dialect,
  handlers: () => ({
    register,
    tokenInfo,
    async authorize(ctx) {
      // @ts-expect-error Property 'email' does not exist on the grants
      const email: string = ctx.body.email;
      return { status: 200, body: { user: 1, access_token: email, token_type: 'user' } };
    },
  }),
});

/** A reply whose body is not the declared one for its status (user is a number). */
export const wrongReplyBody = defineApi({
  id: 'mint-auth',
  dialect,
  handlers: () => ({
    register,
    tokenInfo,
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    async authorize() {
      return { status: 200, body: { user: 'one', access_token: 't', token_type: 'user' } };
    },
  }),
});

/** A reply with a status the operation does not declare. */
export const undeclaredStatus = defineApi({
  id: 'mint-auth',
  dialect,
  handlers: () => ({
    register,
    tokenInfo,
    // @ts-expect-error Type '201' is not assignable to type '200' (nor any other declared status)
    async authorize() {
      return { status: 201, body: { user: 1, access_token: 't', token_type: 'user' } };
    },
  }),
});

/** A handler map for another API's operations under this id. */
export const otherApi = defineApi({
  id: 'user-token-auth',
  dialect,
  // @ts-expect-error Property 'login' is missing
  handlers: () => ({ authorize, register, tokenInfo }),
});
