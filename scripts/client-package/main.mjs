// Runs the compiled consumer (dist/consumer.js) with the configuration in
// the CONSUMER_CONFIG environment variable (JSON); prints its steps.
import { run } from './dist/consumer.js';

const config = JSON.parse(process.env.CONSUMER_CONFIG ?? '{}');
try {
  for (const step of await run(config)) console.log(`  ${step}`);
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
}
