// The bench's baseline: a bare Express 5 route answering the same JSON as
// mts-auth's GET /user, in a child process of its own like the real server.
// No middleware, no database, no token check: the ceiling of this machine.
import express from 'express';

const port = Number(process.env.PORT);
const body = { id: process.env.BARE_USER_ID || '1' };
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/user', (_req, res) => {
  res.json(body);
});
const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
