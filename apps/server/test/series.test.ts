// series(): a list of middleware run as one router layer, with the semantics
// Express's router gives the same list as separate `use` layers.
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, test } from '@jest/globals';
import express, { type RequestHandler } from 'express';
import { series } from '../src/http/series.ts';

/** The same middleware as one series() layer and as separate layers: both answers must agree. */
function appsFor(mws: RequestHandler[]) {
  const build = (asSeries: boolean) => {
    const app = express();
    const router = express.Router();
    if (asSeries) router.use(series(mws));
    else for (const mw of mws) router.use(mw);
    router.use((req, res) => {
      res.json({ end: 'router', trail: res.locals.trail ?? [] });
    });
    router.use(((err, _req, res, _next) => {
      res.status(500).json({ error: err instanceof Error ? err.message : String(err), trail: res.locals.trail ?? [] });
    }) as express.ErrorRequestHandler);
    app.use('/r', router);
    app.use((_req, res) => {
      res.json({ end: 'app', trail: res.locals.trail ?? [] });
    });
    return app;
  };
  return { series: build(true), layers: build(false) };
}

const mark =
  (name: string): RequestHandler =>
  (_req, res, next) => {
    (res.locals.trail ??= []).push(name);
    next();
  };

const servers: Array<ReturnType<express.Express['listen']>> = [];
async function answer(app: express.Express): Promise<unknown> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/r`);
  return { status: res.status, body: await res.json() };
}

describe('series', () => {
  afterAll(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  const cases: Array<[string, RequestHandler[], unknown]> = [
    ['runs each in turn, then goes on', [mark('a'), mark('b')], { end: 'router', trail: ['a', 'b'] }],
    ['next(err) skips the rest', [mark('a'), (_q, _s, next) => next(new Error('boom')), mark('c')], { error: 'boom', trail: ['a'] }],
    [
      'a throw skips the rest',
      [
        mark('a'),
        () => {
          throw new Error('thrown');
        },
        mark('c'),
      ],
      { error: 'thrown', trail: ['a'] },
    ],
    ['a rejected promise skips the rest', [mark('a'), async () => Promise.reject(new Error('rejected')), mark('c')], { error: 'rejected', trail: ['a'] }],
    ["next('route') goes on", [mark('a'), (_q, _s, next) => next('route'), mark('c')], { end: 'router', trail: ['a', 'c'] }],
    ["next('router') leaves the router", [mark('a'), (_q, _s, next) => next('router'), mark('c')], { end: 'app', trail: ['a'] }],
    [
      'an async middleware that calls next goes on',
      [
        async (_q, res, next) => {
          await new Promise((r) => setTimeout(r, 1));
          (res.locals.trail ??= []).push('a');
          next();
        },
        mark('b'),
      ],
      { end: 'router', trail: ['a', 'b'] },
    ],
  ];

  test.each(cases)('%s, as separate layers do', async (_name, mws, expected) => {
    const apps = appsFor(mws);
    const viaSeries = (await answer(apps.series)) as { body: unknown };
    const viaLayers = (await answer(apps.layers)) as { body: unknown };
    expect(viaSeries.body).toEqual(expected);
    expect(viaSeries).toEqual(viaLayers);
  });
});
