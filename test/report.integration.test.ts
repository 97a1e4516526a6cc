// A sweep over four legible fractions on the embedded defaults, each point a child workflow; its HTML report shows
// the tradeoff curve with figures equal to the workflow's results, and renders in headless Chromium without console
// errors (charts and neuron cards). Saves a screenshot under test-output/.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandSweep } from '../pipelines/plan';
import { writeReport } from '../report/html';
import { sweepRows } from '../report/text';
import { ArtifactStore } from '../store/artifacts';
import { startSweepRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';
import type { SweepReport } from '../workflows/pipeline';
import { launchBrowser } from './helpers/browser';

const PIPELINE = `
name: sweep-test
seed: 3
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 8 }, { name: h2, width: 8 }] }
training: { epochs: 2 }
interpretability: { explanationSequences: 300, scoringSequences: 100 }
alignment: { sequences: 300, epochs: 3 }
sweep: { legibleFraction: [0, 0.25, 0.5, 1] }
`;

describe('a sweep and its report', () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers;
  let report: SweepReport;
  let store: ArtifactStore;
  let events: { childStarted: number };

  before(async () => {
    installQuietRuntime();
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: ensureTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES } });
    store = new ArtifactStore(mkdtempSync(join(tmpdir(), 'legible-sweep-')));
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store.root, queuePrefix: 'sweep' });
    const { handle } = await startSweepRun(env.connection, expandSweep(parsePipeline(PIPELINE), PIPELINE, 'sweep'), PIPELINE, { queuePrefix: 'sweep', workflowId: 'sweep-test' });
    report = await handle.result();
    const history = (await handle.fetchHistory()).events ?? [];
    events = { childStarted: history.filter((e) => e.childWorkflowExecutionStartedEventAttributes).length };
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
  });

  it('runs one child workflow per point and collects their results', () => {
    assert.equal(events.childStarted, 4);
    assert.deepEqual(report.points.map((p) => p.settings.legibleFraction), [0, 0.25, 0.5, 1]);
    assert.deepEqual(report.points.map((p) => p.report.layers[0]!.legibleUnits.length), [0, 2, 4, 8]);
    // The points share the corpus and the base model.
    assert.equal(new Set(report.points.map((p) => p.report.base.loss)).size, 1);
  });

  it('writes a report whose tradeoff figures are the workflow\'s results', () => {
    const out = writeReport(mkdtempSync(join(tmpdir(), 'legible-report-')), 'sweep-test', report, store);
    const html = readFileSync(out.html, 'utf8');
    assert.match(html, /Tradeoff: task metric against legibility/);
    const rows = sweepRows(report);
    rows.forEach((row, i) => {
      const tr = html.match(new RegExp(`<tr data-point="${i}">(.*?)</tr>`))![1]!;
      const value = (key: string) => Number(tr.match(new RegExp(`data-value="([^"]+)" data-key="${key}"`))![1]);
      assert.ok(Object.is(value('legibleAfter'), row.legibleAfter), `${value('legibleAfter')} vs ${row.legibleAfter}`);
      assert.equal(value('perplexity'), row.perplexity);
      assert.equal(value('perplexity'), report.points[i]!.report.layers.at(-1)!.taskAfter.perplexity);
    });
    const layerCells = [...html.matchAll(/<tr data-layer="h1">(.*?)<\/tr>/g)].map((m) => Number(m[1]!.match(/data-value="([^"]+)" data-key="legibleAfter"/)![1]));
    assert.deepEqual(layerCells, report.points.map((p) => (p.report.layers[0]!.legibleUnits.length > 0 ? p.report.layers[0]!.legibleAfter : NaN)));
    assert.ok(Number.isNaN(rows[0]!.legibleAfter), 'no legible score where no neuron is legible');
    assert.ok(out.charts.some((c) => c.endsWith('sweep-tradeoff.svg')));
  });

  it('renders in a browser: charts and neuron cards, no console errors', async () => {
    const out = writeReport(join(__dirname, '..', 'test-output', 'sweep-report'), 'sweep-test', report, store);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${out.html}`);
      await page.locator('details').nth(2).evaluate((d) => ((d as HTMLDetailsElement).open = true));
      assert.ok((await page.locator('svg.chart').count()) >= 1 + 4 * 3, 'charts');
      assert.ok((await page.locator('.card.legible').count()) >= 2 + 4 + 8, 'neuron cards of legible neurons');
      const box = await page.locator('svg.chart').first().boundingBox();
      assert.ok(box && box.width > 300 && box.height > 150, 'the tradeoff chart has a size');
      mkdirSync(join(__dirname, '..', 'test-output'), { recursive: true });
      await page.screenshot({ path: join(__dirname, '..', 'test-output', 'sweep-report.png'), fullPage: false });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
