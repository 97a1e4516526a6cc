// A Legible worker process: polls the task queues of the resource tags it is given (default: all) and, unless
// --no-workflows, runs the pipeline workflows. The queues are its store's (LEGIBLE_HOME, or the S3 bucket of
// LEGIBLE_STORE that several machines share): workers of other stores on the same server never take its work
// (--queue-prefix overrides, for a run started under another prefix). Start one per machine and tag set, e.g.
//   npm run worker -- --tags gpu        (on a machine with a GPU)
//   npm run worker -- --tags llm,cpu --llm-concurrency 16 --llm-activities-per-second 4
import { parseArgs } from 'node:util';
import { ResourceTag } from './pipelines/schema';
import { openStore } from './store/open';
import { defaultAddress, stateDir } from './temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix } from './temporal/workers';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tags: { type: 'string', default: ALL_TAGS.join(',') },
      'no-workflows': { type: 'boolean', default: false },
      'gpu-concurrency': { type: 'string' },
      'llm-concurrency': { type: 'string' },
      'cpu-concurrency': { type: 'string' },
      'llm-activities-per-second': { type: 'string' },
      'queue-prefix': { type: 'string' },
    },
  });
  const tags = values.tags.split(',').map((t) => {
    const parsed = ResourceTag.safeParse(t.trim());
    if (!parsed.success) throw new Error(`--tags: "${t}" is not one of ${ALL_TAGS.join(', ')}`);
    return parsed.data;
  });
  const concurrency = Object.fromEntries(
    ALL_TAGS.flatMap((tag) => {
      const v = values[`${tag}-concurrency`];
      if (v === undefined) return [];
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${tag}-concurrency: "${v}" is not a positive whole number`);
      return [[tag, Number(v)]];
    }),
  );
  const llmRate = values['llm-activities-per-second'];
  if (llmRate !== undefined && !(Number(llmRate) > 0)) throw new Error(`--llm-activities-per-second: "${llmRate}" is not a positive number`);
  installQuietRuntime();
  const address = defaultAddress();
  const running = await startWorkers({
    address,
    tags,
    workflows: !values['no-workflows'],
    storeRoot: stateDir(),
    ...(values['queue-prefix'] ? { queuePrefix: values['queue-prefix'] } : {}),
    concurrency,
    ...(llmRate ? { activitiesPerSecond: { llm: Number(llmRate) } } : {}),
  });
  console.log(`Legible worker on ${address}: tags ${tags.join(', ')}${values['no-workflows'] ? '' : ', workflows'}; artifacts in ${openStore(stateDir()).location} (task queues ${values['queue-prefix'] ?? (await storeQueuePrefix(stateDir()))}-*)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.shutdown());
  // Started by `legible run` (an IPC channel): say that it polls, and stop when that process goes.
  if (process.send) {
    process.send({ ready: true });
    process.once('disconnect', () => void running.shutdown());
    process.channel?.unref(); // the channel alone must not keep this process alive once its workers stop
  }
  await running.done;
}

main().catch((err: Error) => {
  console.error(`worker: ${err.message}`);
  process.exit(1);
});
