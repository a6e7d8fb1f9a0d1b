import { mkdirSync } from 'node:fs';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/**
 * Sends mail with nodemailer: through SMTP_URL when set, otherwise into an
 * outbox directory of .eml files (mode 0600), so that a fresh `npm start`
 * needs no mail server. The log line names the recipient, subject and file,
 * never what the mail says: its link holds a live single-use token, and no
 * log line carries one, in development either (open the .eml file).
 */
export class Mailer {
  readonly #transport: Transporter;
  readonly #from: string;
  readonly #log: Logger;
  readonly #outbox: string | undefined;

  constructor(opts: { smtpUrl: string | undefined; from: string; outboxDir: string; log: Logger }) {
    this.#from = opts.from;
    this.#log = opts.log;
    if (opts.smtpUrl) {
      this.#transport = nodemailer.createTransport(opts.smtpUrl);
    } else {
      this.#outbox = path.resolve(opts.outboxDir);
      mkdirSync(this.#outbox, { recursive: true });
      this.#transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    }
  }

  async send(mail: Mail): Promise<void> {
    const info = await this.#transport.sendMail({ from: this.#from, to: mail.to, subject: mail.subject, text: mail.text });
    if (this.#outbox) {
      const { writeFile } = await import('node:fs/promises');
      const file = path.join(this.#outbox, `${Date.now()}-${info.messageId.replace(/[^a-zA-Z0-9.@-]/g, '')}.eml`);
      await writeFile(file, (info as unknown as { message: Buffer }).message, { mode: 0o600 });
      this.#log.info({ to: mail.to, subject: mail.subject, file }, 'mail written to the outbox');
    } else {
      this.#log.info({ to: mail.to, subject: mail.subject }, 'mail sent');
    }
  }

  close(): void {
    this.#transport.close();
  }
}
