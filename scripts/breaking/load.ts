// A spec as @redocly/openapi-core bundles it: external references pulled into
// the document, local `#/components/...` references kept (the diff follows
// them itself, so it knows which named schema a change lies in).
import { bundleFromString, createConfig, type Config } from '@redocly/openapi-core';

let config: Promise<Config> | undefined;

/** Bundles the text of a spec; `file` is where it lives (relative references resolve from there). */
export async function bundleSpec(text: string, file: string): Promise<Record<string, unknown>> {
  config ??= createConfig({});
  const { bundle, problems } = await bundleFromString({ source: text, absoluteRef: file, config: await config, dereference: false });
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length) throw new Error(`${file}: ${errors.map((p) => p.message).join('; ')}`);
  const parsed: unknown = bundle.parsed;
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${file}: not an OpenAPI document`);
  return parsed as Record<string, unknown>;
}
