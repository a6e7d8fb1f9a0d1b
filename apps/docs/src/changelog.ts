// Reads CHANGELOG.md: one `## <api id>` section per API, one
// `### <version>` entry per version (newest first), free Markdown below.
// The docs show it; `npm run check:breaking` checks it names every break.

export interface ChangelogEntry {
  version: string;
  /** What follows the version on its heading line, e.g. `2026-12-01`. */
  note: string;
  /** The entry's Markdown, without its heading. */
  body: string;
}

const API_HEADING = /^##\s+`?([a-z0-9][a-z0-9-]*)`?\s*$/;
const VERSION_HEADING = /^###\s+v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\s*(?:[—–-]\s*)?(.*)$/;

/** The entries of every API, in the file's order. */
export function parseChangelog(markdown: string): Map<string, ChangelogEntry[]> {
  const apis = new Map<string, ChangelogEntry[]>();
  let entries: ChangelogEntry[] | undefined;
  let entry: ChangelogEntry | undefined;
  const lines: string[] = [];
  const close = () => {
    if (entry) entry.body = lines.join('\n').trim();
    lines.length = 0;
  };
  for (const line of markdown.split(/\r?\n/)) {
    const api = API_HEADING.exec(line);
    if (api || /^#{1,2}\s/.test(line)) {
      close();
      entry = undefined;
      entries = api ? (apis.get(api[1]!) ?? apis.set(api[1]!, []).get(api[1]!)) : undefined;
      continue;
    }
    const version = VERSION_HEADING.exec(line);
    if (version && entries) {
      close();
      entry = { version: version[1]!, note: version[2]!.trim(), body: '' };
      entries.push(entry);
      continue;
    }
    if (entry) lines.push(line);
  }
  close();
  return apis;
}
