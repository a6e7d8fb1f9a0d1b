/**
 * The CLI's output contract: with --json exactly one JSON document on stdout
 * (the result, or `{"error": "..."}`); without it, human-friendly text. Error
 * messages always go to stderr. Exit code 1 for errors, 2 for usage errors.
 */

/** An error fit to show the operator as is. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Bad or missing arguments: exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** What a command produced: the JSON document and its human rendering. */
export interface Outcome {
  json: unknown;
  text: string;
}

export function printOutcome(outcome: Outcome, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(outcome.json)}\n`);
  else process.stdout.write(outcome.text.endsWith('\n') ? outcome.text : `${outcome.text}\n`);
}

export function printError(message: string, json: boolean): void {
  process.stderr.write(`polyauth: ${message}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: message })}\n`);
}

/** A simple aligned table for list commands. */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
