// Runs the real curl binary (`curl -sS -i …`) and parses what it printed.
import { spawn } from 'node:child_process';

/** Quotes one argument for a shell line a person can paste. */
export function shellQuote(arg) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * `curl -sS -i ...args`; resolves {status, headers (lower-cased names), body,
 * json (undefined unless the body parses), command (a pasteable line)}.
 */
export function runCurl(args, { timeoutSeconds = 30 } = {}) {
  const full = ['-sS', '-i', '--max-time', String(timeoutSeconds), ...args.map(String)];
  const command = ['curl', ...full].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('curl', full, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    let err = '';
    child.stdout.on('data', (d) => chunks.push(d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`cannot run curl: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl exited ${code}: ${err.trim()}\n  ${command}`));
      try {
        resolve({ ...parseResponse(Buffer.concat(chunks).toString('utf8')), command });
      } catch (e) {
        reject(new Error(`${e.message}\n  ${command}`));
      }
    });
  });
}

/** Splits `curl -i` output: skips 1xx interim responses, keeps the last head. */
export function parseResponse(raw) {
  let rest = raw;
  for (;;) {
    const end = rest.search(/\r?\n\r?\n/);
    const head = end < 0 ? rest : rest.slice(0, end);
    const sep = end < 0 ? '' : rest.slice(end).match(/^\r?\n\r?\n/)[0];
    const body = end < 0 ? '' : rest.slice(end + sep.length);
    const [statusLine, ...lines] = head.split(/\r?\n/);
    const m = /^HTTP\/[\d.]+ (\d{3})/.exec(statusLine ?? '');
    if (!m) throw new Error(`curl printed no HTTP status line: ${JSON.stringify(raw.slice(0, 200))}`);
    const status = Number(m[1]);
    if (status >= 100 && status < 200 && /^HTTP\//.test(body)) {
      rest = body;
      continue;
    }
    const headers = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    let json;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    return { status, headers, body, json };
  }
}
