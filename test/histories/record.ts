// Records the workflow histories that test/replay.test.ts replays: runs each pipeline below on a local dev server
// and saves its history as JSON beside this file. Run it (`npm run histories`) after a deliberate change to the
// workflow, and keep the old histories that running workflows may still have: replaying them proves that the new
// workflow code is deterministic for runs started by the old one (use patched() where it is not).
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipeline } from '../../pipelines/load';
import { DEFAULT_QUEUE_PREFIX, expandPlan } from '../../pipelines/plan';
import { startPipelineRun } from '../../temporal/client';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { ensureTemporalCli } from '../../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers } from '../../temporal/workers';

/** Small versions of the example pipelines: the same steps and branches, in seconds. */
const SMALL = { corpus: { sentences: 2000 }, vocabularySize: 400, width: 12, explanation: 400, scoring: 150, align: 400 };

function small(example: string, name: string): string {
  return readFileSync(join(__dirname, '..', '..', 'pipelines', example), 'utf8')
    .replace(/^name: .*$/m, `name: ${name}`)
    .replace(/corpus: \{[^}]*\}/, `corpus: { sentences: ${SMALL.corpus.sentences} }`)
    .replace(/width: \d+/g, `width: ${SMALL.width}`)
    .replace(/^model:\n/m, `model:\n  vocabularySize: ${SMALL.vocabularySize}\n`)
    .replace(/^training: .*$/m, 'training: { epochs: 1 }')
    .replace(/^interpretability:\n/m, `interpretability:\n  explanationSequences: ${SMALL.explanation}\n  scoringSequences: ${SMALL.scoring}\n  unitsPerActivity: 6\n`)
    .replace(/^alignment: .*$/m, `alignment: { sequences: ${SMALL.align}, epochs: 1 }`);
}

const PIPELINES: Record<string, string> = {
  demo: small('demo.yaml', 'replay-demo').replace(/^alignment: .*\n?/m, '') + `alignment: { sequences: ${SMALL.align}, epochs: 1 }\n`,
  dictionary: small('dictionary.yaml', 'replay-dictionary').replace('epochs: 20', 'epochs: 3'),
  incoming: small('incoming.yaml', 'replay-incoming'),
};

async function main(): Promise<void> {
  installQuietRuntime();
  const cli = ensureTemporalCli();
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: cli }, searchAttributes: SEARCH_ATTRIBUTES } });
  // The queues every earlier history ran on (legible-*), so that the recorded histories stay alike.
  const workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: mkdtempSync(join(tmpdir(), 'legible-histories-')), queuePrefix: DEFAULT_QUEUE_PREFIX });
  try {
    for (const [name, text] of Object.entries(PIPELINES)) {
      const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text, name), text), text, { workflowId: `replay-${name}` });
      await handle.result();
      writeFileSync(join(__dirname, `${name}.json`), historyToJSON(await handle.fetchHistory()));
      console.log(`recorded test/histories/${name}.json`);
    }
  } finally {
    await workers.shutdown();
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
