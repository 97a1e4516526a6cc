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
import { reportJson } from '../report/json';
import { currentReport, formatSweep, sweepRows } from '../report/text';
import type { ArtifactStore } from '../store/artifacts';
import { directoryStore } from '../store/open';
import { startSweepRun } from '../temporal/client';
import { localEnvironment } from './helpers/dev-server';
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
sweep: { legibleFraction: [0, 0.5, 1], seed: [3, 4] }
`;

describe('a sweep and its report', () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers;
  let report: SweepReport;
  let store: ArtifactStore;
  let events: { childStarted: number };

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
    const root = mkdtempSync(join(tmpdir(), 'legible-sweep-'));
    store = directoryStore(root);
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: root, queuePrefix: 'sweep' });
    const { handle } = await startSweepRun(env.connection, expandSweep(parsePipeline(PIPELINE), PIPELINE, 'sweep'), PIPELINE, { queuePrefix: 'sweep', workflowId: 'sweep-test', storeRoot: root });
    report = await handle.result();
    const history = (await handle.fetchHistory()).events ?? [];
    events = { childStarted: history.filter((e) => e.childWorkflowExecutionStartedEventAttributes).length };
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
  });

  it('runs one child workflow per point and seed, and collects their results', () => {
    assert.equal(events.childStarted, 6);
    assert.deepEqual(report.points.map((p) => [p.settings.legibleFraction, p.settings.seed]), [[0, 3], [0, 4], [0.5, 3], [0.5, 4], [1, 3], [1, 4]]);
    const reports = report.points.map((p) => currentReport(p.report));
    // At most the fraction of neurons, and only those with a positive selection score, become legible.
    assert.deepEqual(reports.map((r) => r.layers[0]!.legibleUnits.length > 0), [false, false, true, true, true, true]);
    assert.ok(reports.every((r) => r.layers[0]!.legibleUnits.length <= 8 * (r === reports[2] || r === reports[3] ? 0.5 : 1)));
    // The points of one seed share the corpus, the base model and the matched control; the seeds differ.
    assert.equal(new Set(reports.map((r) => r.base.loss)).size, 2);
    assert.equal(new Set(reports.filter((r) => r.seed === 3).map((r) => r.controlModel.sha256)).size, 1);
    // At fraction 0 the constructed model is its own control.
    assert.equal(reports[0]!.finalModel.sha256, reports[0]!.controlModel.sha256);
  });

  it('writes a report whose tradeoff figures are the workflow\'s results', async () => {
    const out = await writeReport(mkdtempSync(join(tmpdir(), 'legible-report-')), 'sweep-test', report, store);
    const html = readFileSync(out.html, 'utf8');
    assert.match(html, /Tradeoff: task metric against legibility/);
    const rows = sweepRows(report);
    assert.deepEqual(rows.map((r) => [r.settings, r.seeds]), [['legibleFraction=0', [3, 4]], ['legibleFraction=0.5', [3, 4]], ['legibleFraction=1', [3, 4]]]);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    rows.forEach((row, i) => {
      const tr = html.match(new RegExp(`<tr data-point="${i}">(.*?)</tr>`))![1]!;
      const value = (key: string) => Number(tr.match(new RegExp(`data-value="([^"]+)" data-key="${key}"`))![1]);
      assert.ok(Object.is(value('legibleAfter'), mean(row.legibleAfter)), `${value('legibleAfter')} vs ${row.legibleAfter}`);
      const finals = report.points.filter((p) => p.settings.legibleFraction === report.points[2 * i]!.settings.legibleFraction).map((p) => currentReport(p.report).layers.at(-1)!.task.after.perplexity);
      assert.equal(value('perplexity'), mean(finals));
      assert.match(tr, / ± /, 'mean ± spread over seeds');
    });
    const layerCells = [...html.matchAll(/<tr data-layer="h1">(.*?)<\/tr>/g)].map((m) => Number(m[1]!.match(/data-value="([^"]+)" data-key="legibleAfter"/)![1]));
    assert.deepEqual(layerCells, report.points.map((p) => currentReport(p.report).layers[0]!).map((l) => (l.legibleUnits.length > 0 ? l.legible.after.allTokens.value : NaN)));
    assert.ok(rows[0]!.legibleAfter.every(Number.isNaN), 'no legible score where no neuron is legible');
    assert.match(formatSweep(report), /2 seeds/);
    assert.ok(out.charts.some((c) => c.endsWith('sweep-tradeoff.svg')));
  });

  it('prints every figure as JSON, for the sweep and each of its runs', () => {
    const json = JSON.parse(reportJson('sweep-test', report));
    assert.equal(json.kind, 'sweep');
    assert.equal(json.points.length, 6);
    for (const [i, point] of json.points.entries()) {
      const run = currentReport(report.points[i]!.report);
      const layer = point.report.layers[0];
      assert.equal(point.report.kind, 'run');
      assert.deepEqual(layer.scores.legible.after.correlation, JSON.parse(JSON.stringify(run.layers[0]!.legible.after.allTokens)));
      for (const key of ['detection', 'fuzzing', 'auc', 'topAndRandom']) assert.ok(key in layer.scores.free.after, key);
      if (run.layers[0]!.legibleUnits.length > 0) {
        for (const when of ['before', 'after']) {
          for (const key of ['cleanLoss', 'substitutedLoss', 'zeroAblatedLoss', 'meanAblatedLoss', 'recoveredVsZero', 'recoveredVsMean']) assert.ok(layer.faithfulness[when][key].value !== undefined, `${when}.${key}`);
        }
        assert.ok(layer.controls.shuffledLabels.topAndRandom.value !== undefined);
        assert.ok(layer.controls.randomLabels && layer.controls.randomModel);
      }
      assert.ok(point.report.labelsAlone.survivingShare, 'the network on its labels alone');
    }
    assert.doesNotMatch(reportJson('sweep-test', report), /NaN|Infinity/);
  });

  it('renders in a browser: charts and neuron cards, no console errors', async () => {
    const out = await writeReport(join(__dirname, '..', 'test-output', 'sweep-report'), 'sweep-test', report, store);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${out.html}`);
      await page.locator('details').nth(2).evaluate((d) => ((d as HTMLDetailsElement).open = true));
      assert.ok((await page.locator('svg.chart').count()) >= 1 + 6 * 3, 'charts');
      assert.ok((await page.locator('.card.legible').count()) >= 4, 'neuron cards of legible neurons');
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
