import type { Command } from 'commander';
import { openContext, type CliContext } from './context.ts';
import { CliError, printError, printOutcome, type Outcome } from './output.ts';

export type Options = Record<string, unknown> & { json?: boolean };

export interface Call {
  /** The command's positional arguments, in order. */
  args: string[];
  opts: Options;
  /**
   * Opens the database. Commands call it after checking their input (and
   * prompting, if they must), so the embedded store is locked only briefly.
   */
  open(): Promise<CliContext>;
}

export type Handler = (call: Call) => Promise<Outcome>;

/** A leaf command: every one takes --json. */
export function leaf(parent: Command, nameAndArgs: string, description: string): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .option('--json', 'print exactly one JSON document on stdout (errors as {"error": "..."})');
}

/**
 * Wraps a handler as a commander action: opens and always closes the
 * database, prints the outcome (before closing, so a secret shown once is
 * never lost to a failing close), and turns errors into the exit codes.
 */
export function action(handler: Handler) {
  return async (...received: unknown[]): Promise<void> => {
    const cmd = received[received.length - 1] as Command;
    const opts = cmd.opts<Options>();
    const json = opts.json === true;
    let ctx: CliContext | undefined;
    try {
      const outcome = await handler({
        args: cmd.processedArgs as string[],
        opts,
        open: async () => (ctx = await openContext()),
      });
      printOutcome(outcome, json);
    } catch (err) {
      const exitCode = err instanceof CliError ? err.exitCode : 1;
      const message = err instanceof CliError ? err.message : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
      if (!(err instanceof CliError) && process.env.POLYAUTH_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
      printError(message, json);
      process.exitCode = exitCode;
    } finally {
      if (ctx) {
        await ctx.close().catch((err: unknown) => {
          process.stderr.write(`polyauth: warning: closing the database failed: ${(err as Error).message}\n`);
        });
      }
    }
  };
}
