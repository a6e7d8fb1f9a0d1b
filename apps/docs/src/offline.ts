// Finds what would make a built page reach outside the server it is served
// from: remote scripts, stylesheets, fonts, images and frames. Plain links
// (<a href>) to other sites are not loads and are allowed.

const URL_ = String.raw`((?:https?:)?//[^\s"'\x60()<>\\]+)`;
const PATTERNS: RegExp[] = [
  // <script src=...>, <img src=...>, <iframe src=...>, <link href=...>, <object data=...>
  new RegExp(String.raw`<(?:script|link|img|iframe|frame|embed|object|source|audio|video|track|image|use)\b[^>]*?\s(?:src|href|xlink:href|data|srcset|poster)\s*=\s*["']?\s*${URL_}`, 'gi'),
  // CSS: @import "https://..." / @import url(https://...)
  new RegExp(String.raw`@import\s+(?:url\(\s*)?["']?\s*${URL_}`, 'gi'),
  // CSS: url(https://...) in a stylesheet or style attribute (fonts, images)
  new RegExp(String.raw`url\(\s*["']?\s*${URL_}`, 'gi'),
  // A remote script, style, font or image named anywhere, e.g. in a bundled
  // component (Redoc 3 renders its logo from https://cdn.redoc.ly/...svg).
  /(https?:\/\/[^\s"'`()<>\\]+\.(?:m?js|css|woff2?|ttf|otf|eot|svg|png|jpe?g|gif|webp|avif|ico))(?=[?#"'`)\s\\]|$)/gi,
];

/** Every remote resource URL an HTML document refers to, once each. */
export function remoteResourceRefs(html: string): string[] {
  const found = new Set<string>();
  for (const pattern of PATTERNS) {
    for (const m of html.matchAll(pattern)) {
      const url = m[1]!.replace(/[?#].*$/, '');
      found.add(url.length > 200 ? `${url.slice(0, 200)}…` : url);
    }
  }
  return [...found];
}
