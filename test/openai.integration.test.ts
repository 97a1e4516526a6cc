// A pipeline whose explainer and simulator are an OpenAI-compatible endpoint (a local wire-format server), on the
// real Temporal dev server: the run completes, its token usage is reported, the API key appears nowhere in the
// workflow history or the artifacts, and a refused key fails the run at once instead of retrying.
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { legibleClient, startPipelineRun } from '../temporal/client';
import { runHistories } from '../temporal/runs';
import { localEnvironment } from './helpers/dev-server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';
import { startFakeOpenAI, toyInterpreter, type FakeOpenAI } from './helpers/fake-openai';

const KEY = 'sk-legible-integration-9f8e7d6c5b4a3210';
process.env.LEGIBLE_IT_KEY = KEY;
const PREFIX = 'llmtest';

const pipeline = (baseURL: string, name: string, seed = 4) => `
name: ${name}
seed: ${seed}
corpus: { sentences: 800 }
model:
  vocabularySize: 300
  hidden: [{ name: h1, width: 4 }, { name: h2, width: 4 }]
training: { epochs: 1 }
interpretability: { explanationSequences: 150, scoringSequences: 40, unitsPerActivity: 2, incoming: { topN: 2 } }
alignment: { sequences: 100, epochs: 2 }
explainer: &llm { provider: openai, model: toy, baseURL: "${baseURL}", apiKeyEnv: LEGIBLE_IT_KEY, requestsPerSecond: 500, maxRetries: 0, sentencesPerCall: 50 }
simulator: *llm
steps:
  defaults: { retry: { maximumAttempts: 2, initialInterval: 100ms } }
`;

describe('a pipeline with an OpenAI-compatible explainer and simulator', () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers;
  let server: FakeOpenAI;
  const storeRoot = mkdtempSync(join(tmpdir(), 'legible-llm-it-'));

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot, queuePrefix: PREFIX });
    server = await startFakeOpenAI((req) => (req.headers.authorization === `Bearer ${KEY}` ? toyInterpreter(req) : { status: 401 }));
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
    await server?.close();
  });

  it('runs, reports usage, and never records the API key', async () => {
    const text = pipeline(server.baseURL, 'llm');
    const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text), text, PREFIX), text, { queuePrefix: PREFIX, workflowId: 'llm-1' });
    const report = await handle.result();
    assert.equal(report.usage.calls, server.requests.length);
    assert.ok(report.usage.calls > 5 && report.usage.promptTokens === 100 * report.usage.calls, JSON.stringify(report.usage));
    // Half of each layer at most: only neurons whose toy label scores above 0 on the selection text qualify.
    assert.ok(report.layers.every((l) => l.legibleUnits.length <= 2));
    // The incoming context reached the explainer of h2.
    assert.ok(server.requests.some((r) => r.body.messages[1]!.content.includes("The neuron's strongest inputs from the layer below")));

    // Payloads are base64 in the history: read them as text, as the Temporal UI shows them (every workflow of the run).
    const raw = (await runHistories(legibleClient(env.connection, undefined), 'llm-1')).map((h) => h.events);
    const history = JSON.stringify(raw, (key, v) => (key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v));
    assert.ok(!JSON.stringify(raw).includes(KEY));
    assert.ok(history.includes('LEGIBLE_IT_KEY'), 'the variable name is in the plan');
    assert.ok(!history.includes(KEY), 'the key is in the workflow history');
    for (const file of readdirSync(storeRoot, { recursive: true, encoding: 'utf8' })) {
      const path = join(storeRoot, file);
      if (/\.(json)$|[0-9a-f]{64}$/.test(file)) assert.ok(!readFileSync(path).includes(KEY), `${file} holds the key`);
    }
  });

  it('fails at once, without retries, when the endpoint refuses the key', async () => {
    process.env.LEGIBLE_IT_KEY = 'sk-wrong';
    try {
      // Another seed: other examples, so no answer can come from the cache of the first run.
      const text = pipeline(server.baseURL, 'llm-refused', 5);
      const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text), text, PREFIX), text, { queuePrefix: PREFIX, workflowId: 'llm-2' });
      await assert.rejects(handle.result(), (err: Error) => {
        assert.ok(err instanceof WorkflowFailedError);
        // The workflow's failure wraps its layer's, which wraps the fan-out's, the step's and the endpoint's error.
        let root: Error = err;
        while (root.cause instanceof Error) root = root.cause;
        assert.match(root.message, /HTTP 401/);
        return true;
      });
      // The run's steps are spread over its layer's and fan-outs' child workflows.
      const events = (await runHistories(legibleClient(env.connection, undefined), 'llm-2')).flatMap((h) => h.events);
      const failed = events.filter((e) => e.activityTaskFailedEventAttributes);
      assert.ok(failed.length >= 1);
      for (const f of failed) assert.equal(f.activityTaskFailedEventAttributes!.failure!.applicationFailureInfo!.nonRetryable, true);
      for (const e of events.filter((e) => e.activityTaskStartedEventAttributes)) assert.equal(e.activityTaskStartedEventAttributes!.attempt, 1);
    } finally {
      process.env.LEGIBLE_IT_KEY = KEY;
    }
  });
});
