// `redocly build-docs --inlineBundle` still names two remote images: the
// Redocly logo in the sidebar footer, loaded from cdn.redoc.ly at run time.
// They are swapped for small inline SVG wordmarks so the page never leaves
// the server. Should Redoc name other remote assets, build.mjs's offline
// check (offline.ts) fails the build rather than let them through.
// The page also gets an inline favicon: without one the browser asks for
// /favicon.ico, which is mts-auth's (root-mounted) 404.

const svg = (width: number, text: string) =>
  'data:image/svg+xml,' +
  encodeURIComponent(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="16" viewBox="0 0 ${width} 16">` +
      `<text x="0" y="12" font-family="system-ui,sans-serif" font-size="12" fill="#6e7781">${text}</text></svg>`,
  ).replace(/'/g, '%27');

export const REDOC_REMOTE_ASSETS: ReadonlyArray<readonly [remote: string, local: string]> = [
  ['https://cdn.redoc.ly/redoc/logo-mini-full.svg', svg(48, 'Redocly')],
  ['https://cdn.redoc.ly/redoc/logo-mini.svg', svg(12, 'R')],
];

/** A favicon that costs no request. */
export const FAVICON = svgIcon();

function svgIcon(): string {
  const body =
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b5cad"/>' +
    '<text x="8" y="12" text-anchor="middle" font-family="system-ui,sans-serif" font-size="10" fill="#fff">pa</text></svg>';
  return 'data:image/svg+xml,' + encodeURIComponent(body).replace(/'/g, '%27');
}

/** A Redoc page with every known remote asset replaced by its inline copy and an inline favicon. */
export function localizeRedocPage(html: string): string {
  let out = html;
  for (const [remote, local] of REDOC_REMOTE_ASSETS) out = out.split(remote).join(local);
  const head = /<head(?:\s[^>]*)?>/i.exec(out);
  if (!head) throw new Error('the Redoc page has no <head>');
  const at = head.index + head[0].length;
  return `${out.slice(0, at)}\n  <link rel="icon" href="${FAVICON}">${out.slice(at)}`;
}
