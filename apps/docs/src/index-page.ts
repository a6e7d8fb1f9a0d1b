// The docs landing page: one self-contained HTML file (no script, no external
// style or font) listing every API with links to its Redoc page and raw spec.
import type { ApiDoc } from './apis.ts';
import type { ChangelogEntry } from './changelog.ts';
import { FAVICON } from './localize.ts';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** The Redoc page of an API, relative to the index (served at /docs/). */
export function redocFile(api: Pick<ApiDoc, 'id'>): string {
  return `${api.id}.html`;
}

/** The raw spec as the server serves it (/specs/<id>.yaml), relative to /docs/ so a path prefix still works. */
export function specHref(api: Pick<ApiDoc, 'id'>): string {
  return `../specs/${encodeURIComponent(api.id)}.yaml`;
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #4d5561; --bg: #ffffff; --card: #f5f7fa; --border: #d0d7de; --link: #0b5cad; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #b1bac4; --bg: #0d1117; --card: #161b22; --border: #30363d; --link: #6cb6ff; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; padding: .5rem 1rem; background: var(--bg); border: 2px solid var(--link); }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem; }
header p, footer p { color: var(--muted); margin: .25rem 0 0; }
h1 { margin: 0; font-size: 1.75rem; }
ul.apis { list-style: none; margin: 0; padding: 0; display: grid; gap: 1rem; }
ul.apis > li { background: var(--card); border: 1px solid var(--border); border-radius: .5rem; padding: 1rem 1.25rem; }
h2 { margin: 0 0 .25rem; font-size: 1.25rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .125rem 1rem; margin: .5rem 0; }
dt { color: var(--muted); }
dd { margin: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .95em; }
.summary { margin: .5rem 0; }
.links { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .5rem 0 0; padding: 0; list-style: none; }
a { color: var(--link); text-underline-offset: .15em; }
details.changelog { margin: .75rem 0 0; }
details.changelog summary { cursor: pointer; color: var(--muted); }
ol.versions { list-style: none; margin: .5rem 0 0; padding: 0; }
ol.versions h3 { margin: .5rem 0 .25rem; font-size: 1rem; }
ol.versions .note { color: var(--muted); font-weight: normal; }
ol.versions ul, ol.versions p { margin: .25rem 0; }
a:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; border-radius: 2px; }
`;

/** The little Markdown a changelog entry uses: `- ` items (continued by indented lines), paragraphs, `code`, **strong**, [links](…). */
export function renderMarkdown(markdown: string): string {
  const inline = (text: string) =>
    escapeHtml(text)
      .replace(/`([^`]+)`/g, '<code>$1</code>')
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label: string, href: string) => (/^(https?:|\.{0,2}\/|#)/.test(href) ? `<a href="${href}">${label}</a>` : label));
  const blocks: string[] = [];
  let items: string[] | undefined;
  let para: string[] = [];
  const flushPara = () => {
    if (para.length) blocks.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
  };
  const flushList = () => {
    if (items) blocks.push(`<ul>${items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`);
    items = undefined;
  };
  for (const line of markdown.split('\n')) {
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    if (item) {
      flushPara();
      (items ??= []).push(item[1]!);
    } else if (!line.trim()) {
      flushPara();
      flushList();
    } else if (items && /^\s/.test(line)) {
      items[items.length - 1] += ` ${line.trim()}`;
    } else {
      flushList();
      para.push(line.trim());
    }
  }
  flushPara();
  flushList();
  return blocks.join('\n');
}

function renderChangelog(api: Pick<ApiDoc, 'id' | 'title'>, entries: readonly ChangelogEntry[]): string {
  if (!entries.length) return '';
  const e = escapeHtml;
  const list = entries
    .map(
      (entry) => `<li id="${e(`changelog-${api.id}-${entry.version}`)}"><h3>${e(entry.version)}${entry.note ? ` <span class="note">${e(entry.note)}</span>` : ''}</h3>
          ${renderMarkdown(entry.body)}</li>`,
    )
    .join('\n        ');
  return `<details class="changelog"${entries.length <= 3 ? ' open' : ''}>
        <summary>${e(api.title)} changelog (${entries.length} version${entries.length === 1 ? '' : 's'})</summary>
        <ol class="versions" aria-label="${e(api.title)} versions, newest first">
        ${list}
        </ol>
      </details>`;
}

export function renderIndexPage(apis: readonly ApiDoc[]): string {
  const items = apis.map((api) => {
    const e = (s: string) => escapeHtml(s);
    const headingId = `api-${api.id}`;
    const ops = api.operations.length;
    return `    <li aria-labelledby="${e(headingId)}">
      <h2 id="${e(headingId)}">${e(api.title)}</h2>
      <dl>
        <dt>Version</dt><dd>${e(api.version)}${api.changelog[0]?.version === api.version ? ` <a href="#${e(`changelog-${api.id}-${api.version}`)}">what changed</a>` : ''}</dd>
        <dt>Mounted at</dt><dd><code>${e(api.mount)}</code></dd>
        <dt>Operations</dt><dd>${ops}</dd>
      </dl>
      ${api.summary ? `<p class="summary">${e(api.summary)}</p>` : ''}
      <ul class="links">
        <li><a href="${e(redocFile(api))}" data-api="${e(api.id)}" data-kind="reference">${e(api.title)} reference</a></li>
        <li><a href="${e(specHref(api))}" data-api="${e(api.id)}" data-kind="spec" type="application/yaml">${e(api.title)} OpenAPI spec (YAML)</a></li>
      </ul>
      ${renderChangelog(api, api.changelog)}
    </li>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>polyauth API documentation</title>
  <link rel="icon" href="${escapeHtml(FAVICON)}">
  <style>${STYLE}</style>
</head>
<body>
  <a class="skip" href="#apis">Skip to the API list</a>
  <header>
    <h1>polyauth API documentation</h1>
    <p>One authentication service, ${apis.length} API${apis.length === 1 ? '' : 's'}, one shared user store: a user created through one API signs in through every other.</p>
  </header>
  <main>
    <ul class="apis" id="apis" aria-label="APIs">
${items.join('\n')}
    </ul>
  </main>
  <footer>
    <p>Generated from the OpenAPI documents in <code>specs/</code>, the single source of truth for the server, its types and its clients.</p>
  </footer>
</body>
</html>
`;
}
