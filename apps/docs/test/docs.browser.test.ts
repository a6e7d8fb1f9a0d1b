// The built docs (`npm run build:docs`, which `npm run test:browser` runs
// first) served by a real polyauth server and rendered by a real headless
// Chromium: the index lists every API of redocly.yaml, each Redoc page renders
// every operation, nothing is fetched from outside the server, no console error.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServer, type TestServer } from '../../server/test/harness.ts';
import { loadApiDocs, type ApiDoc } from '../src/apis.ts';

const CHROMIUM = '/usr/bin/chromium';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const distIndex = fileURLToPath(new URL('../dist/index.html', import.meta.url));

// Read before the tests are declared, so there is one test per API of redocly.yaml.
const apis: ApiDoc[] = await loadApiDocs(repoRoot);

let srv: TestServer;
let browser: Browser;
let context: BrowserContext;
/** Every request of the run that went anywhere but the test server (data: and blob: stay in the page). */
const offsite: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's Chromium. Run \`sudo apt-get install -y chromium\`.`);
  }
  if (!existsSync(distIndex)) {
    throw new Error('apps/docs/dist is not built: run the browser tests with `npm run test:browser` (it runs `npm run build:docs` first).');
  }
  srv = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  context = await browser.newContext();
  const local = new URL(srv.baseUrl).origin;
  context.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin !== local && u.protocol !== 'data:' && u.protocol !== 'blob:') offsite.push(req.url());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await srv?.close();
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Opens a page, recording its console errors and uncaught exceptions. */
async function open(path: string): Promise<{ page: Page; errors: string[]; status: number | undefined }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  const response = await page.goto(`${srv.baseUrl}${path}`, { waitUntil: 'load' });
  return { page, errors, status: response?.status() };
}

describe('docs index', () => {
  test('/docs redirects to /docs/ and lists every API of redocly.yaml with its links', async () => {
    const bare = await fetch(`${srv.baseUrl}/docs`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/docs/');

    const { page, errors, status } = await open('/docs');
    try {
      expect(status).toBe(200);
      expect(new URL(page.url()).pathname).toBe('/docs/');
      await expect(page.title()).resolves.toBe('polyauth API documentation');
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('polyauth API documentation');
      await expect(page.locator('ul.apis > li').count()).resolves.toBe(apis.length);

      for (const api of apis) {
        const card = page.locator('ul.apis > li', { has: page.getByRole('heading', { level: 2, name: api.title, exact: true }) });
        await expect(card.count()).resolves.toBe(1);
        const text = (await card.textContent()) ?? '';
        expect(text).toContain(api.version);
        expect(text).toContain(api.mount);
        // its changelog, the current version's entry first
        await expect(card.locator('ol.versions > li').first().getAttribute('id')).resolves.toBe(`changelog-${api.id}-${api.version}`);
        if (api.summary) expect(text).toContain(api.summary);

        const reference = card.locator('a[data-kind="reference"]');
        const spec = card.locator('a[data-kind="spec"]');
        const resolve = (href: string | null) => new URL(href ?? '', page.url()).href;
        expect(resolve(await reference.getAttribute('href'))).toBe(`${srv.baseUrl}/docs/${api.id}.html`);
        expect(resolve(await spec.getAttribute('href'))).toBe(`${srv.baseUrl}/specs/${api.id}.yaml`);

        const raw = await fetch(resolve(await spec.getAttribute('href')));
        expect(raw.status).toBe(200);
        expect(raw.headers.get('content-type')).toMatch(/^application\/yaml/);
        expect(await raw.text()).toMatch(/^openapi: 3\.1/m);
      }
      expect(errors).toEqual([]);
      expect(offsite).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test('the docs are served with a Content-Security-Policy, not without one', async () => {
    const res = await fetch(`${srv.baseUrl}/docs/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:/);
  });
});

describe.each(apis.map((api) => [api.id, api] as const))('Redoc page of %s', (_id, api) => {
  test('is reached from the index and renders every operation', async () => {
    expect(api.operations.length).toBeGreaterThan(0);
    const { page, errors } = await open('/docs/');
    try {
      await page.locator(`a[data-kind="reference"][data-api="${api.id}"]`).click();
      await page.waitForURL(`${srv.baseUrl}/docs/${api.id}.html`);
      for (const op of api.operations) {
        expect(op.summary).not.toBe('');
        // Redoc lists each operation in the sidebar as "<summary> <method>" under
        // its tag, and renders it as an h2 holding the summary once navigated to.
        const navLink = page.getByRole('link', { name: `${op.summary} ${op.method}`, exact: true }).first();
        if (!(await navLink.isVisible()) && op.tag) {
          await page.getByRole('link', { name: op.tag, exact: true }).first().click();
        }
        await navLink.click();
        const heading = page.locator('main h2').filter({ hasText: new RegExp(`^${escapeRegExp(op.summary)}$`) });
        await heading.first().waitFor({ state: 'visible' });
      }
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(`${api.title} (${api.version})`);
      expect(errors).toEqual([]);
      expect(offsite).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
