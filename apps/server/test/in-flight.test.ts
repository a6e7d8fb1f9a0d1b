import { describe, expect, test } from '@jest/globals';
import express from 'express';
import { InFlight, inFlightOf } from '../src/http/in-flight.ts';

describe('InFlight (graceful stop waits for handlers whose client hung up)', () => {
  test('idle at once when nothing runs', async () => {
    await expect(new InFlight().idle(1)).resolves.toBe(true);
  });

  test('idle resolves once the last handler ends, and ending twice counts once', async () => {
    const t = new InFlight();
    const a = t.start();
    const b = t.start();
    const idle = t.idle(60_000);
    a();
    a();
    expect(t.count).toBe(1);
    b();
    expect(t.count).toBe(0);
    await expect(idle).resolves.toBe(true);
  });

  test('idle gives up (false) while a handler is still running', async () => {
    const t = new InFlight();
    t.start();
    await expect(t.idle(1)).resolves.toBe(false);
    expect(t.count).toBe(1);
  });

  test('createApp-style apps expose their tracker; others have none', () => {
    const app = express();
    expect(inFlightOf(app)).toBeUndefined();
    app.locals.inFlight = new InFlight();
    expect(inFlightOf(app)).toBe(app.locals.inFlight);
  });
});
