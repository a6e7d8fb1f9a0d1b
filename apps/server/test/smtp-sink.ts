// A real SMTP server on an ephemeral port that keeps what it receives, so
// tests read the mailed links out of the delivered messages.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  /** Raw RFC 5322 message. */
  raw: string;
  /** The text with quoted-printable undone (soft line breaks joined). */
  text: string;
}

export interface SmtpSink {
  url: string;
  received: ReceivedMail[];
  /** The next mail to `to` not yet taken (waits for it). */
  next(to: string): Promise<ReceivedMail>;
  /** Mails to `to` received so far. */
  to(to: string): ReceivedMail[];
  close(): Promise<void>;
}

function decodeQuotedPrintable(raw: string): string {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  if (!/content-transfer-encoding:\s*quoted-printable/i.test(head ?? '')) return body;
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<{ to: string; resolve: (m: ReceivedMail) => void }> = [];
  const deliver = (mail: ReceivedMail) => {
    received.push(mail);
    const i = waiters.findIndex((w) => mail.to.includes(w.to.toLowerCase()));
    if (i >= 0) {
      taken.add(mail);
      waiters.splice(i, 1)[0]!.resolve(mail);
    }
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        deliver({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, text: decodeQuotedPrintable(raw) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    next(to) {
      const ready = received.find((m) => !taken.has(m) && m.to.includes(to.toLowerCase()));
      if (ready) {
        taken.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiters.push({ to, resolve }));
    },
    to(to) {
      return received.filter((m) => m.to.includes(to.toLowerCase()));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first http(s) link in a mail. */
export function linkIn(mail: ReceivedMail): string {
  const m = /https?:\/\/[^\s<>"]+/.exec(mail.text);
  if (!m) throw new Error(`no link in the mail:\n${mail.text}`);
  return m[0];
}
