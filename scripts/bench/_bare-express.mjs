// The bench's baseline for one cheap row: a bare Express 5 app answering the
// row's own requests (same method and path) with the same status, headers and
// JSON the real server answered them in the preflight, in a child process of
// its own like the real server. No middleware but Express's own body parsers
// (a route that answers a POST reads its body: a JSON or form body is parsed
// as every Express app parses it), no validation, no database, no token
// check: what this machine can do for that exchange at most.
//
// BARE_ROUTES (JSON): [{ method, path, status, headers, body }], body being
// the parsed JSON (serialized again for every answer, as the server does).
import express from 'express';

const port = Number(process.env.PORT);
const routes = JSON.parse(process.env.BARE_ROUTES ?? '[]');
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
app.get('/_bare/ready', (_req, res) => {
  res.json({ ready: true });
});
/** A literal path for Express 5's path-to-regexp: its special characters escaped. */
const literal = (p) => p.replace(/[:*?+!(){}[\]\\]/g, '\\$&');
for (const r of routes) {
  const method = r.method.toLowerCase();
  if (typeof app[method] !== 'function') throw new Error(`bare express: no method ${r.method}`);
  app[method](literal(r.path), (_req, res) => {
    res.set(r.headers);
    res.status(r.status).json(r.body);
  });
}
const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
