// The Temporal Web UI, as a person uses it: headless Chromium finds a run by its pipeline search attribute, opens it
// and sees its step activities. Saves a screenshot under test-output/.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { startPipelineRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';
import { launchBrowser } from './helpers/browser';
import { freePort } from '../temporal/server';

const PIPELINE = `
name: ui-audit
seed: 2
corpus: { sentences: 800 }
model: { vocabularySize: 300, hidden: [{ name: h1, width: 4 }] }
training: { epochs: 1 }
interpretability: { explanationSequences: 150, scoringSequences: 40 }
alignment: { sequences: 100, epochs: 1 }
`;

describe('the Temporal Web UI', () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers;
  let browser: Browser;
  let uiPort: number;

  before(async () => {
    installQuietRuntime();
    uiPort = await freePort();
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: ensureTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES, ui: true, uiPort },
    });
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: mkdtempSync(join(tmpdir(), 'legible-ui-')), queuePrefix: 'ui' });
    const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(PIPELINE), PIPELINE, 'ui'), PIPELINE, { queuePrefix: 'ui', workflowId: 'ui-audit-run' });
    await handle.result();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await workers?.shutdown();
    await env?.teardown();
  });

  it('finds the run by its pipeline and shows its steps', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const base = `http://127.0.0.1:${uiPort}`;
    await page.goto(`${base}/namespaces/default/workflows?query=${encodeURIComponent('LegiblePipeline = "ui-audit"')}`);
    const link = page.getByRole('link', { name: 'ui-audit-run' }).first();
    await link.waitFor({ timeout: 30_000 });
    await link.click();
    await page.waitForURL(/ui-audit-run/, { timeout: 30_000 });
    // The run's own steps, and its layers as child workflows.
    for (const step of ['trainBaseModel', 'legibleLayer']) await page.getByText(step).first().waitFor({ timeout: 30_000 });
    const dir = join(__dirname, '..', 'test-output');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'temporal-ui-run.png'), fullPage: true });
    // A layer's page: its steps, and its explain and simulate fan-outs as child workflows of their own.
    await page.goto(`${base}/namespaces/default/workflows/ui-audit-run-layer-h1`);
    for (const step of ['alignLegibleNeurons', 'fanOutSteps']) await page.getByText(step).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(dir, 'temporal-ui-layer.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });
});
