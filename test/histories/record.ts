// Records the workflow histories that test/replay.test.ts replays: runs each pipeline below on a local dev server
// and saves its history as JSON beside this file, with those of its first layer's child workflow and of that layer's
// first fan-out, each named by its workflow id (replay.test.ts replays them under it: child ids derive from it). Run
// it (`npm run histories`) after a deliberate change to the workflow, and first move the histories it replaces into a
// folder named for the change (e.g. before-parallel-control/): running workflows may still have them, and replaying
// them proves that the new workflow code is deterministic for runs started by the old one (use patched() where it
// is not).
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipeline } from '../../pipelines/load';
import { DEFAULT_QUEUE_PREFIX, expandPlan } from '../../pipelines/plan';
import { legibleClient, startPipelineRun } from '../../temporal/client';
import { runHistories } from '../../temporal/runs';
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
  const storeRoot = mkdtempSync(join(tmpdir(), 'legible-histories-'));
  const workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot, queuePrefix: DEFAULT_QUEUE_PREFIX });
  const client = legibleClient(env.connection, storeRoot);
  try {
    for (const [name, text] of Object.entries(PIPELINES)) {
      const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text, name), text), text, { workflowId: `replay-${name}`, storeRoot });
      await handle.result();
      const histories = await runHistories(client, `replay-${name}`);
      const pick = [histories[0]!, histories.find((h) => /-layer-[^-]+$/.test(h.workflowId))!, histories.find((h) => /-layer-[^-]+-1-explainNeurons$/.test(h.workflowId))!];
      for (const h of pick) {
        writeFileSync(join(__dirname, `${h.workflowId}.json`), historyToJSON({ events: h.events }));
        console.log(`recorded test/histories/${h.workflowId}.json`);
      }
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
