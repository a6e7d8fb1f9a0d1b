import type { Router } from 'express';
import type { Services } from '../services.ts';
import { authV3WebRouter } from './auth-v3/web.ts';

/** Routers served outside any API's mount (auth-v3's /web pages), before the APIs. */
export const routes: Array<{ path: string; router: (services: Services) => Router }> = [{ path: '/web', router: authV3WebRouter }];
