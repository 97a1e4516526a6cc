// Temporal's limits, scaled down through the dev server's dynamic config so that a small run meets all three at once:
// 300 history events per workflow, 4,000-byte payloads and 10 pending activities per workflow. Before layers were
// child workflows, fan-outs had a window and continued as new, and large payloads went to the artifact store, this
// run (one layer of 40 neurons, one unit per activity) was terminated by the server, or its workflow task failed
// forever. Now it completes, and every workflow's history stays under the limit.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { planProblems, planSize } from '../pipelines/plan-size';
import { currentReport } from '../report/text';
import { legibleClient, startPipelineRun } from '../temporal/client';
import { OFFLOADED_ENCODING } from '../temporal/payload-codec';
import { runHistories } from '../temporal/runs';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';

const LIMITS = { 'limit.historyCount.error': 300, 'limit.historyCount.warn': 150, 'limit.blobSize.error': 4000, 'limit.blobSize.warn': 2000, 'limit.numPendingActivities.error': 10 };

const PIPELINE = `
name: limits
seed: 5
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 40 }] }
training: { epochs: 1 }
interpretability: { explanationSequences: 300, scoringSequences: 100, unitsPerActivity: 1 }
alignment: { sequences: 300, epochs: 1 }
temporalLimits: { historyEvents: 300, pendingActivities: 10 }
`;

describe("Temporal's limits, scaled down", () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers | undefined;
  const store = mkdtempSync(join(tmpdir(), 'legible-limits-'));

  before(async () => {
    installQuietRuntime();
    // Payloads above 1,500 bytes travel as artifact references (the server refuses above 4,000).
    process.env.LEGIBLE_OFFLOAD_BYTES = '1500';
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: ensureTemporalCli() },
        searchAttributes: SEARCH_ATTRIBUTES,
        extraArgs: Object.entries(LIMITS).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
      },
    });
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store, queuePrefix: 'limits' });
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
    delete process.env.LEGIBLE_OFFLOAD_BYTES;
  });

  it('a run completes within all three, each workflow under the history limit', async () => {
    const plan = expandPlan(parsePipeline(PIPELINE), PIPELINE, 'limits');
    assert.deepEqual(planProblems(plan), []);
    const { handle } = await startPipelineRun(env.connection, plan, PIPELINE, { queuePrefix: 'limits', workflowId: 'limits-run', storeRoot: store });
    const report = currentReport(await handle.result());
    assert.equal(report.layers[0]!.scoresAfter.length, 40);

    const histories = await runHistories(legibleClient(env.connection, store), 'limits-run');
    for (const h of histories) assert.ok(h.events.length < LIMITS['limit.historyCount.error'], `${h.workflowId}: ${h.events.length} events`);
    // The widest fan-outs (40 activities, 32 per run at this limit) continued as new once.
    const runsOf = new Map<string, number>();
    for (const h of histories) runsOf.set(h.workflowId, (runsOf.get(h.workflowId) ?? 0) + 1);
    assert.ok([...runsOf.values()].some((n) => n === planSize(plan).fanOut.runs && n > 1), JSON.stringify([...runsOf]));
    // Large payloads (the plan, the report, a layer's scores) are references into the store.
    const offloaded = histories.flatMap((h) => h.events).filter((e) => JSON.stringify(e).includes(Buffer.from(OFFLOADED_ENCODING).toString('base64')));
    assert.ok(offloaded.length > 10, `${offloaded.length} events carry an offloaded payload`);
  });
});
