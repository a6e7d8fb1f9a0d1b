import cookieParser from 'cookie-parser';
import express, { type Request, type Response, type Router } from 'express';
import { toApiError } from '../../http/to-api-error.ts';
import type { Services } from '../../services.ts';
import { safeRedirectPath } from './redirect.ts';
import { AUTH_V3, AUTH_V3_TOKEN_KIND, parseAuthV3Token } from './token.ts';

/** HTML-escapes text for element content and quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, status: number, title: string, bodyHtml: string): void {
  res
    .status(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)} · polyauth</title></head>` +
        `<body><main><h1>${escapeHtml(title)}</h1>${bodyHtml}</main></body></html>\n`,
    );
}

const INVALID_LINK =
  '<p>This sign-in link is invalid, has expired or has already been used. Ask for a new one.</p>';

/**
 * auth-v3's web pages, served at /web outside the API's mount:
 * `GET /web/login/authByToken?token=&url=` turns a loginOther token into a web
 * session (once) and redirects to a local path; `GET /web/` shows who is
 * signed in; `POST /web/logout` ends the session.
 */
export function authV3WebRouter(s: Services): Router {
  const { impersonation } = s;
  const secure = s.config.publicUrl.startsWith('https://');
  // `__Host-` pins the cookie to this host, path / and Secure (browsers enforce it).
  const cookieName = secure ? '__Host-polyauth_web' : 'polyauth_web';
  const cookieOptions = { httpOnly: true, sameSite: 'lax', secure, path: '/' } as const;
  const ttl = s.config.tokens.authV3WebSessionTtl;

  const router = express.Router({ strict: false, caseSensitive: true });
  router.use((_req, res, next) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    next();
  });
  router.use(cookieParser());

  const sessionCookie = (req: Request): string | undefined => {
    const v = (req.cookies as Record<string, unknown> | undefined)?.[cookieName];
    return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined;
  };
  const ip = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

  // A HEAD (link previews, scanners) must not use up the single-use token.
  router.head('/login/authByToken', (_req, res) => {
    res.status(405).set('Allow', 'GET').end();
  });

  router.get('/login/authByToken', async (req, res) => {
    const token = req.query.token;
    if (!parseAuthV3Token(token)) {
      page(res, 401, 'Sign-in link not valid', INVALID_LINK);
      return;
    }
    const session = await impersonation.startWebSession({ api: AUTH_V3, kind: AUTH_V3_TOKEN_KIND, token: token as string, ttl, ip: ip(req) });
    if (!session) {
      page(res, 401, 'Sign-in link not valid', INVALID_LINK);
      return;
    }
    res.cookie(cookieName, session.value, { ...cookieOptions, maxAge: ttl * 1000 });
    res.status(303).set('Location', safeRedirectPath(req.query.url)).end();
  });

  router.get('/', async (req, res) => {
    const value = sessionCookie(req);
    const found = value ? await impersonation.webSession(value) : undefined;
    if (!found) {
      if (value) res.clearCookie(cookieName, cookieOptions);
      page(res, 200, 'Not signed in', '<p>You are not signed in.</p>');
      return;
    }
    const { user, actor } = found;
    const name = `${user.firstName} ${user.lastName}`.trim() || user.username;
    const onBehalf = actor
      ? `<p>Signed in on their behalf by <strong>${escapeHtml(actor.username)}</strong>.</p>`
      : '';
    page(
      res,
      200,
      'Signed in',
      `<p>You are signed in as <strong id="user-name">${escapeHtml(name)}</strong> ` +
        `(<span id="user-login">${escapeHtml(user.username)}</span>, <span id="user-role">${escapeHtml(user.role)}</span>).</p>` +
        onBehalf +
        '<form method="post" action="/web/logout"><button type="submit">Sign out</button></form>',
    );
  });

  // SameSite=Lax keeps other sites' forms from posting with the cookie.
  router.post('/logout', async (req, res) => {
    const value = sessionCookie(req);
    if (value) await impersonation.endWebSession(value, ip(req));
    res.clearCookie(cookieName, cookieOptions);
    res.status(303).set('Location', '/web/').end();
  });

  router.all(['/', '/login/authByToken', '/logout'], (req, res) => {
    const allow = req.path === '/logout' ? 'POST' : 'GET';
    res.set('Allow', allow);
    page(res, 405, 'Method not allowed', `<p>Use ${allow} here.</p>`);
  });

  router.use((_req, res) => {
    page(res, 404, 'Not found', '<p>There is no such page.</p>');
  });

  router.use(((err, req, res, _next) => {
    const { error, internal } = toApiError(err);
    if (internal) req.log?.error({ err }, 'web request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.set(error.headers);
    const status = error.status;
    const message =
      status === 503
        ? 'The service is temporarily unavailable; try again shortly.'
        : status >= 500
          ? 'An unexpected error occurred.'
          : 'The request could not be processed.';
    page(res, status, status >= 500 ? 'Error' : 'Bad request', `<p>${escapeHtml(message)}</p>`);
  }) as express.ErrorRequestHandler);

  return router;
}
