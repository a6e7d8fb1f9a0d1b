// Reads the mail the server writes to its outbox directory (SMTP_URL unset:
// one nodemailer .eml file per mail, see apps/server/src/identity/mail.ts).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Decodes a quoted-printable body (soft line breaks, =XX bytes) as UTF-8. */
export function decodeQuotedPrintable(text) {
  const bytes = [];
  const src = text.replace(/=\r?\n/g, '');
  for (let i = 0; i < src.length; i += 1) {
    if (src[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(src[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Decodes RFC 2047 encoded words (=?UTF-8?Q?...?= / =?UTF-8?B?...?=) in a header value. */
function decodeWords(value) {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_m, _cs, enc, data) =>
    enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

/** Parses one single-part text mail: {to, subject, text, links}. */
export function parseMail(raw) {
  const sep = raw.search(/\r?\n\r?\n/);
  const head = sep < 0 ? raw : raw.slice(0, sep);
  const body = sep < 0 ? '' : raw.slice(sep).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  const to = decodeWords(headers.to ?? '').replace(/^.*<([^>]+)>.*$/, '$1');
  return { to, subject: decodeWords(headers.subject ?? ''), text, links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [] };
}

export class Outbox {
  #seen = new Set();

  constructor(dir) {
    this.dir = dir;
  }

  /** Every mail not returned by next() yet, oldest first. */
  #unread() {
    let files;
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.eml') && !this.#seen.has(f));
    } catch {
      return [];
    }
    // `<Date.now()>-<message id>.eml`: numeric order is sending order.
    files.sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b));
    const mails = [];
    for (const file of files) {
      const raw = readFileSync(path.join(this.dir, file), 'utf8');
      // Still being written (the server's writeFile is not atomic): read it next time.
      if (!/\r?\n\r?\n/.test(raw)) continue;
      mails.push({ file, ...parseMail(raw) });
    }
    return mails;
  }

  /**
   * The next unread mail to `to` (case-insensitive), marked read; waits up to
   * `timeoutMs` for it (some mails are sent after the response). Resolves
   * undefined when none arrives.
   */
  async next({ to, timeoutMs = 5000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mail = this.#unread().find((m) => !to || m.to.toLowerCase() === to.toLowerCase());
      if (mail) {
        this.#seen.add(mail.file);
        return mail;
      }
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Unread mails to `to`, marked read, without waiting (to check that nothing was sent). */
  drain({ to } = {}) {
    const mails = this.#unread().filter((m) => !to || m.to.toLowerCase() === to.toLowerCase());
    for (const m of mails) this.#seen.add(m.file);
    return mails;
  }
}
