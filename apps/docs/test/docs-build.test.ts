// The docs build's own pieces, without running redocly: the API list comes
// from redocly.yaml, the index escapes what it prints, and the offline check
// catches every kind of remote load.
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { firstParagraph, loadApiDocs, type ApiDoc } from '../src/apis.ts';
import { escapeHtml, renderIndexPage, renderMarkdown } from '../src/index-page.ts';
import { parseChangelog } from '../src/changelog.ts';
import { localizeRedocPage, REDOC_REMOTE_ASSETS } from '../src/localize.ts';
import { remoteResourceRefs } from '../src/offline.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

describe('loadApiDocs', () => {
  test('lists every API of redocly.yaml, in its order, with what the index shows', async () => {
    const config = parse(readFileSync(`${repoRoot}redocly.yaml`, 'utf8')) as { apis: Record<string, { root: string }> };
    const apis = await loadApiDocs(repoRoot);
    expect(apis.map((a) => a.id)).toEqual(Object.keys(config.apis));
    for (const api of apis) {
      expect(api.specFile).toBe(`${repoRoot}${config.apis[api.id]!.root}`);
      expect(api.title).not.toBe('');
      expect(api.version).not.toBe('');
      expect(api.mount).toMatch(/^\//);
      expect(api.summary).not.toBe('');
      expect(api.operations.length).toBeGreaterThan(0);
      for (const op of api.operations) expect(op.operationId).toMatch(/^[a-zA-Z][a-zA-Z0-9]*$/);
    }
  });

  test('fails with the file name when redocly.yaml has no apis', async () => {
    await expect(loadApiDocs(repoRoot, 'package.json')).rejects.toThrow(/package\.json: no `apis:` entries/);
  });

  test('firstParagraph keeps the first paragraph as plain text and shortens a long one at a word', () => {
    expect(firstParagraph('The `mts-auth` API, see [the seed](x.txt).\nSecond line.\n\nNext paragraph.')).toBe(
      'The mts-auth API, see the seed. Second line.',
    );
    const long = firstParagraph('word '.repeat(200));
    expect(long.length).toBeLessThanOrEqual(281);
    expect(long).toMatch(/word…$/);
  });
});

const hostile: ApiDoc = {
  id: 'evil-api',
  specFile: '/dev/null',
  title: '<script>alert(1)</script>',
  version: '1.0" onmouseover="x',
  mount: "/a'b",
  summary: 'Tom & Jerry <img src=x onerror=alert(1)>',
  operations: [{ operationId: 'op', method: 'get', path: '/', summary: 'Op', tag: undefined }],
  changelog: [{ version: '1.0.0" onmouseover="x', note: '<b>today</b>', body: '- **Breaking**: `<script>` [x](javascript:alert(1))' }],
};

describe('renderIndexPage', () => {
  test('escapes every value taken from a spec', () => {
    const html = renderIndexPage([hostile]);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('" onmouseover="');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('Tom &amp; Jerry &lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('/a&#39;b');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  test('links each API to its Redoc page and its raw spec, and loads nothing remote', async () => {
    const apis = await loadApiDocs(repoRoot);
    const html = renderIndexPage(apis);
    for (const api of apis) {
      expect(html).toContain(`href="${api.id}.html"`);
      expect(html).toContain(`href="../specs/${api.id}.yaml"`);
    }
    expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html).not.toMatch(/<script/i);
    expect(remoteResourceRefs(html)).toEqual([]);
  });
});

describe('changelog', () => {
  test('CHANGELOG.md has an entry for every API at its current version, and the index shows it', async () => {
    const apis = await loadApiDocs(repoRoot);
    const html = renderIndexPage(apis);
    for (const api of apis) {
      expect(api.changelog[0]?.version).toBe(api.version);
      expect(html).toContain(`id="changelog-${api.id}-${api.version}"`);
      expect(html).toContain(`href="#changelog-${api.id}-${api.version}"`);
    }
  });

  test('parseChangelog reads API sections and version entries, ignoring the rest', () => {
    const log = parseChangelog('# Changelog\n\nIntro.\n\n## a-api\n\n### 2.0.0 — 2026-12-02\n\n- **Breaking**: x\n\n### 1.0.0\n\nFirst.\n\n## b\n\n### 0.1.0 (draft)\n- y\n');
    expect([...log.keys()]).toEqual(['a-api', 'b']);
    expect(log.get('a-api')).toEqual([
      { version: '2.0.0', note: '2026-12-02', body: '- **Breaking**: x' },
      { version: '1.0.0', note: '', body: 'First.' },
    ]);
    expect(log.get('b')).toEqual([{ version: '0.1.0', note: '(draft)', body: '- y' }]);
  });

  test('renderMarkdown renders lists, paragraphs and inline marks, escaping everything else', () => {
    expect(renderMarkdown('- **Breaking**: `POST /user`\n  continued\n- two\n\nA [link](../specs/x.yaml).')).toBe(
      '<ul><li><strong>Breaking</strong>: <code>POST /user</code> continued</li><li>two</li></ul>\n<p>A <a href="../specs/x.yaml">link</a>.</p>',
    );
    const html = renderIndexPage([hostile]);
    expect(html).not.toContain('<b>today');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('javascript:alert(1)"');
    expect(html).toContain('<code>&lt;script&gt;</code>');
  });
});

describe('remoteResourceRefs', () => {
  test.each([
    ['a remote script', '<script src="https://cdn.example.com/redoc.js"></script>'],
    ['a protocol-relative script', "<script defer src='//cdn.example.com/x.js'></script>"],
    ['a remote stylesheet', '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'],
    ['a remote font in CSS', '<style>@font-face{font-family:x;src:url("https://fonts.gstatic.com/x.woff2")}</style>'],
    ['a CSS import', '<style>@import "https://example.com/a.css";</style>'],
    ['a remote image', '<img alt="" src="http://example.com/logo.png">'],
    ['an asset named in a script', '<script>img.src=`https://cdn.redoc.ly/redoc/logo-mini-full.svg`</script>'],
  ])('finds %s', (_what, html) => {
    expect(remoteResourceRefs(html)).toHaveLength(1);
  });

  test('allows links to other sites, local and inline resources', () => {
    const html = [
      '<a href="https://redocly.com/redoc/">Redoc</a>',
      '<script src="/docs/app.js"></script><link rel="icon" href="data:,">',
      '<svg xmlns="http://www.w3.org/2000/svg"><use href="#a"/></svg>',
      '<style>.a{background:url(data:image/png;base64,AAAA)}</style>',
      '<script>throw new Error("see https://react.dev/errors/418")</script>',
    ].join('\n');
    expect(remoteResourceRefs(html)).toEqual([]);
  });
});

describe('localizeRedocPage', () => {
  test('swaps the remote Redoc logos for inline images and adds an inline favicon', () => {
    const page = `<!DOCTYPE html><html><head><title>x</title></head><body><script>a=\`${REDOC_REMOTE_ASSETS.map(([r]) => r).join('`,b=`')}\`</script></body></html>`;
    expect(remoteResourceRefs(page)).toHaveLength(REDOC_REMOTE_ASSETS.length);
    const local = localizeRedocPage(page);
    expect(remoteResourceRefs(local)).toEqual([]);
    expect(local).toMatch(/<head>\n {2}<link rel="icon" href="data:image\/svg\+xml,[^"'`<>]+">/);
    for (const [, inline] of REDOC_REMOTE_ASSETS) expect(inline).toMatch(/^data:image\/svg\+xml,[^"'`\\]+$/);
  });
});
