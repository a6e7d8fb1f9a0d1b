import type { Command } from 'commander';
import qrcode from 'qrcode-terminal';
import { newTotpSecret, totpUri } from '../../identity/totp.ts';
import { cliCaller } from '../context.ts';
import { CliError } from '../output.ts';
import { resolveUser } from '../resolve.ts';
import { action, leaf } from '../runner.ts';

function terminalQr(text: string): Promise<string> {
  return new Promise((resolve) => qrcode.generate(text, { small: true }, resolve));
}

export function registerTotpCommands(program: Command): void {
  const group = program.command('totp').description("TOTP two-factor authentication (auth-v3's login)");

  leaf(group, 'enroll <user>', 'give a user a new TOTP secret (replacing any previous one); shows the otpauth URI and a QR code').action(
    action(async ({ args, open, opts }) => {
      const ctx = await open();
      const secret = newTotpSecret();
      const user = await resolveUser(ctx, args[0]!);
      const { replaced } = await ctx.accounts.setTotp(user, secret, cliCaller());
      const uri = totpUri(secret, user.username);
      if (opts.json) return { json: { uri, secret }, text: '' };
      return {
        json: { uri, secret },
        text: [
          `${replaced ? 'Replaced the TOTP secret' : 'Enrolled TOTP'} for ${user.username} (id ${user.id}).`,
          'Scan this code with an authenticator app, or enter the URI or secret by hand:',
          '',
          await terminalQr(uri),
          `  URI:    ${uri}`,
          `  secret: ${secret}`,
          '',
          'Logins with two-factor authentication (auth-v3) now ask this user for the 6-digit code;',
          "the user's existing tokens were revoked, and the other APIs refuse password-only sign-in.",
        ].join('\n'),
      };
    }),
  );

  leaf(
    group,
    'reencrypt',
    'encrypt every stored TOTP secret with TOTP_ENCRYPTION_KEY: rows sealed under a key of TOTP_ENCRYPTION_KEYS_OLD, and rows still in plain text (after a key rotation)',
  ).action(
    action(async ({ open }) => {
      const ctx = await open();
      const { keyId, ...result } = await ctx.accounts.reencryptTotpSecrets(cliCaller());
      if (result.unreadable > 0) {
        throw new CliError(
          `${result.unreadable} TOTP secret(s) could not be decrypted with TOTP_ENCRYPTION_KEY or TOTP_ENCRYPTION_KEYS_OLD and were left as they are; ` +
            `${result.sealed} re-encrypted. Add the missing old key to TOTP_ENCRYPTION_KEYS_OLD and run this again.`,
        );
      }
      return {
        json: { ...result, keyId },
        text: `Re-encrypted ${result.sealed} of ${result.total} TOTP secret(s) with the key ${keyId}; the others already were.`,
      };
    }),
  );

  leaf(group, 'disable <user>', "remove a user's TOTP secret (logins no longer ask for a code)").action(
    action(async ({ args, open }) => {
      const ctx = await open();
      const user = await resolveUser(ctx, args[0]!);
      const wasEnrolled = user.totpSecret !== null;
      await ctx.accounts.setTotp(user, null, cliCaller());
      return {
        json: { id: user.id, username: user.username, totp: false },
        text: wasEnrolled ? `Removed TOTP from ${user.username} (id ${user.id}).` : `${user.username} had no TOTP secret.`,
      };
    }),
  );
}
