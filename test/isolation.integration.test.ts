// Two stores on one Temporal server at once: each store's workers poll only that store's task queues (named after
// the store's identity), so both runs finish and each store holds only its own run's artifacts.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { currentReport } from '../report/text';
import { ArtifactStore, type ArtifactRef } from '../store/artifacts';
import { startPipelineRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, bundleWorkflows, installQuietRuntime, startWorkers, storeQueuePrefix, type RunningWorkers } from '../temporal/workers';

const pipeline = (seed: number) => `
name: isolation
seed: ${seed}
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 8 }] }
training: { epochs: 1 }
interpretability: { explanationSequences: 300, scoringSequences: 100 }
alignment: { sequences: 300, epochs: 1 }
`;

describe('two stores on one server', () => {
  let env: TestWorkflowEnvironment;
  const workers: RunningWorkers[] = [];

  before(async () => {
    installQuietRuntime();
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: ensureTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES } });
  });

  after(async () => {
    for (const w of workers) await w.shutdown();
    await env?.teardown();
  });

  it('a store has one identity, made once and kept', () => {
    const root = mkdtempSync(join(tmpdir(), 'legible-id-'));
    const id = new ArtifactStore(root).id();
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(new ArtifactStore(root).id(), id);
    assert.notEqual(new ArtifactStore(mkdtempSync(join(tmpdir(), 'legible-id-'))).id(), id);
  });

  it('runs both at once; each store\'s workers take only its own run\'s work', async () => {
    const stores = [mkdtempSync(join(tmpdir(), 'legible-store-a-')), mkdtempSync(join(tmpdir(), 'legible-store-b-'))];
    const workflowBundle = await bundleWorkflows();
    // Default queue prefix: the store's own.
    for (const storeRoot of stores) workers.push(await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot, workflowBundle }));
    const prefixes = stores.map(storeQueuePrefix);
    assert.notEqual(prefixes[0], prefixes[1]);
    const runs = await Promise.all(
      stores.map(async (_, i) => {
        const text = pipeline(11 + i);
        const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text), text, prefixes[i]), text, { queuePrefix: prefixes[i], workflowId: `isolation-${i}` });
        const report = currentReport(await handle.result());
        const queues = new Set(((await handle.fetchHistory()).events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue!.name!] : [])));
        return { report, queues };
      }),
    );
    const holds = (store: string, ref: ArtifactRef) => existsSync(join(store, 'artifacts', ref.sha256.slice(0, 2), ref.sha256));
    runs.forEach(({ report, queues }, i) => {
      assert.ok([...queues].every((q) => q.startsWith(`${prefixes[i]}-`)), `run ${i} scheduled on ${[...queues].join(', ')}`);
      for (const ref of [report.corpus.ref, report.finalModel, report.layers[0]!.recordsAfter]) {
        assert.ok(holds(stores[i]!, ref), `store ${i} holds its run's ${ref.kind}`);
        assert.ok(!holds(stores[1 - i]!, ref), `store ${1 - i} does not hold run ${i}'s ${ref.kind}`);
      }
    });
  });
});
