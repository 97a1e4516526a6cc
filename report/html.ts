// The results report of a run or a sweep: one self-contained HTML file (inline SVG and CSS, no script, no network)
// plus each chart as an SVG file. For a run: what every figure is; per layer the table of scores (before and after,
// legible and free, with 95% intervals) and of the task metric against the matched control and the base model;
// histograms of explanation scores; the task metric per layer; the dependence on legible, free and random groups
// (zero and mean ablation); the dictionary; every neuron in a table; neuron cards (label, scores, top and random
// examples shaded by true and simulated activation on one scale, like OpenAI's neuron viewer); faithfulness
// (substitution's four losses per layer and group, the network on its labels alone, the controls, the scorers beside
// correlation); the pipeline YAML.
// For a sweep: the tradeoff curve and table, then each point's report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusFromBundle, type CorpusMeta } from '../data/corpus';
import { activationsOnSplit, selectSentences, type LayerActivations } from '../interp/records';
import type { Faithfulness } from '../interp/faithfulness';
import type { UnitScore } from '../interp/scoring';
import { readLabels, readSimulations } from '../llm/artifacts';
import type { Estimate } from '../stats/bootstrap';
import type { ArtifactStore } from '../store/artifacts';
import type { LayerReport, PipelineReport, SweepReport } from '../workflows/pipeline';
import type { PipelineReportV1 } from '../workflows/pipeline-v1';
import { alignmentLine, CONTROL_GAP, controlVerdict, currentReport, describeCorpus, failedPoints, faithfulnessRows, labelLine, scorerCell, legibleCount, meanAndSpread, sweepRows, versusControl, withInterval } from './text';
import { bars, histogram, tradeoff } from './svg';

const LEGIBLE = '#2f7d4f';
const LEGIBLE_BEFORE = '#9cc9ad';
const FREE = '#b0623a';
const FREE_BEFORE = '#e3b79f';
const RANDOM = '#8a8fa0';
const BEFORE = '#9aa8bf';
const AFTER = '#3060c0';
const CONTROL = '#c09a30';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A number cell that carries its exact value, so the figures can be checked against the run's results. */
const num = (v: number, digits = 3, key = '') => `<td class="num" data-value="${v}"${key ? ` data-key="${key}"` : ''}>${Number.isNaN(v) ? '—' : v.toFixed(digits)}</td>`;
/** A figure with its 95% interval in one cell (the exact value in data-value). */
const est = (e: Estimate | undefined, key = '', sign = false) =>
  e ? `<td class="num" data-value="${e.value}"${key ? ` data-key="${key}"` : ''}>${esc(withInterval(e, 3, sign))}</td>` : '<td class="num">—</td>';

export interface WrittenReport {
  html: string;
  charts: string[];
}

/** Writes the report of a finished run or sweep into `dir` (index.html and one SVG per chart). */
export async function writeReport(dir: string, workflowId: string, result: PipelineReport | PipelineReportV1 | SweepReport, store: ArtifactStore, pipelineYaml?: string): Promise<WrittenReport> {
  mkdirSync(dir, { recursive: true });
  const charts: [string, string][] = [];
  const chart = (name: string, svg: string) => {
    charts.push([`${name}.svg`, svg]);
    return `<figure>${svg}</figure>`;
  };
  const body = 'points' in result ? await sweepSection(result, chart, store) : await runSection(currentReport(result, workflowId), chart, store, '');
  const title = 'points' in result ? `Legible sweep ${result.pipeline}` : `Legible run ${result.pipeline}`;
  const yaml = pipelineYaml ? `<section><h2>Pipeline</h2><pre class="yaml">${esc(pipelineYaml)}</pre></section>` : '';
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<header><h1>${esc(title)}</h1><p class="meta">workflow <code>${esc(workflowId)}</code> · pipeline sha256 <code>${esc(result.pipelineHash.slice(0, 12))}</code></p></header>
${body}${yaml}
</body></html>`;
  const index = join(dir, 'index.html');
  writeFileSync(index, html);
  for (const [name, svg] of charts) writeFileSync(join(dir, name), svg);
  return { html: index, charts: charts.map(([name]) => join(dir, name)) };
}

type Chart = (name: string, svg: string) => string;

async function sweepSection(r: SweepReport, chart: Chart, store: ArtifactStore): Promise<string> {
  const rows = sweepRows(r);
  const m = (xs: number[]) => meanAndSpread(xs).mean;
  const curve = chart(
    'sweep-tradeoff',
    tradeoff(
      'Tradeoff: task metric against legibility',
      rows.filter((x) => !x.legibleAfter.some(Number.isNaN)).map((x) => ({ x: m(x.legibleAfter), y: m(x.perplexity), label: x.settings, spread: meanAndSpread(x.perplexity).sd })),
      'mean legible-neuron score after alignment (all tokens)',
      'final perplexity (bars: ± sd over seeds)',
      { y: m(rows.flatMap((x) => x.controlPerplexity)), label: 'matched control' },
    ),
  );
  const measured = rows.filter((x) => !x.recovered.some(Number.isNaN));
  const faithful = measured.length
    ? chart(
        'sweep-faithfulness',
        tradeoff(
          'Tradeoff: task metric against faithfulness',
          measured.map((x) => ({ x: m(x.recovered), y: m(x.perplexity), label: x.settings, spread: meanAndSpread(x.perplexity).sd })),
          'legible neurons recovered by their labels after alignment (vs mean ablation)',
          'final perplexity (bars: ± sd over seeds)',
          { y: m(rows.flatMap((x) => x.controlPerplexity)), label: 'matched control' },
        ),
      )
    : '';
  const spread = (xs: number[], digits = 3) => (xs.length > 1 && !xs.some(Number.isNaN) ? ` ± ${meanAndSpread(xs).sd.toFixed(digits)}` : '');
  const cell = (xs: number[], key: string, digits = 3) =>
    `<td class="num" data-value="${m(xs)}" data-key="${key}">${xs.some(Number.isNaN) ? '—' : m(xs).toFixed(digits)}${spread(xs, digits)}</td>`;
  const table = `<table class="sweep"><thead><tr><th>setting</th><th>seeds</th><th>legible score before</th><th>after</th><th>free score after</th><th>recovered</th><th>perplexity</th><th>control</th><th>base</th><th>final − control (nats)</th></tr></thead><tbody>${rows
    .map(
      (x, i) =>
        `<tr data-point="${i}"><td>${esc(x.settings || '(none)')}</td><td>${x.seeds.length}</td>${cell(x.legibleBefore, 'legibleBefore')}${cell(x.legibleAfter, 'legibleAfter')}${cell(x.freeAfter, 'freeAfter')}${cell(x.recovered, 'recovered')}${cell(x.perplexity, 'perplexity', 1)}${cell(x.controlPerplexity, 'controlPerplexity', 1)}${cell(x.basePerplexity, 'basePerplexity', 1)}<td class="num" data-value="${m(x.vsControl.map((e) => e.value))}" data-key="vsControl">${esc(versusControl(x.vsControl))}</td></tr>`,
    )
    .join('')}</tbody></table>`;
  let points = '';
  for (const [i, p] of r.points.entries()) {
    points += `<details><summary>Point ${i}: ${esc(Object.entries(p.settings).map(([k, v]) => `${k}=${v}`).join(' '))} (<code>${esc(p.workflowId)}</code>)</summary>${await runSection(currentReport(p.report, p.workflowId), chart, store, `point${i}-`)}</details>`;
  }
  return `<section><h2>Tradeoff</h2><p>One row per setting; with several seeds, the mean ± standard deviation over seeds. Scores are mean all-tokens correlations on the score text over the layers that have legible (or free) neurons; a setting without legible neurons has no point on the curve. Control: the same training schedule with no legible neurons. Final − control: held-out loss difference, paired over sentences (one seed: its 95% interval). Recovered: the legible neurons' substitution by their labels after alignment, against mean ablation (mean over layers).</p><div class="charts">${curve}${faithful}</div>${table}${r.failed?.length ? `<pre class="failed">${esc(failedPoints(r).join('\n').trim())}</pre>` : ''}</section>${points}`;
}

const EXPLAINED = `<p>Every score is the Pearson correlation between a neuron's true activations and the activations a simulator predicts from its label alone, on every token of the <em>score text</em>: held-out sentences that neither the labels nor the choice of legible neurons saw. A neuron's activation at a token is computed from the tokens up to and including it (a window of them for the MLP, the sentence so far for the transformer); the model then predicts the next token. <strong>Before</strong>: each neuron's own label, on the model before its layer was aligned. <strong>After</strong>: the label the neuron was aligned to (its own; in dictionary mode, its feature's), on the model after alignment and retraining, on the same tokens. Means over the group with a 95% interval (bootstrap over sentences and neurons); gain = after − before, paired. Task: held-out next-token loss in nats per token (perplexity = e<sup>loss</sup>) with 95% intervals over sentences; the <strong>matched control</strong> is the same training schedule with no legible neurons; differences are paired over the same sentences (negative: the constructed model predicts better).</p>`;

async function runSection(r: PipelineReport, chart: Chart, store: ArtifactStore, prefix: string): Promise<string> {
  const corpus = corpusFromBundle(await store.getBundle<CorpusMeta>(r.corpus.ref));
  const scores = `<table class="layers"><thead><tr><th>layer</th><th>legible</th><th>legible before</th><th>after</th><th>gain</th><th>free before</th><th>after</th></tr></thead><tbody>${r.layers
    .map((l) => {
      const some = l.legibleUnits.length > 0;
      const free = l.legibleUnits.length < l.width;
      return `<tr data-layer="${esc(l.layer)}"><td>${esc(l.layer)}</td><td>${esc(legibleCount(l))}</td>${some ? est(l.legible.before.allTokens, 'legibleBefore') : num(NaN, 3, 'legibleBefore')}${some ? est(l.legible.after.allTokens, 'legibleAfter') : num(NaN, 3, 'legibleAfter')}${some ? est(l.legible.after.gain, 'legibleGain', true) : num(NaN)}${free ? est(l.free.before.allTokens, 'freeBefore') : num(NaN, 3, 'freeBefore')}${free ? est(l.free.after.allTokens, 'freeAfter') : num(NaN, 3, 'freeAfter')}</tr>`;
    })
    .join('')}</tbody></table>`;
  const other = `<table class="other"><thead><tr><th>layer</th><th>group</th><th>top-and-random before</th><th>after</th><th>random-only before</th><th>after</th><th>constant on random (before / after)</th></tr></thead><tbody>${r.layers
    .flatMap((l) =>
      (['legible', 'free'] as const)
        .filter((g) => l[g].before.units > 0)
        .map((g) => `<tr><td>${esc(l.layer)}</td><td>${g}</td>${est(l[g].before.topAndRandom)}${est(l[g].after.topAndRandom)}${est(l[g].before.randomOnly)}${est(l[g].after.randomOnly)}<td class="num">${l[g].before.constantOnRandom} / ${l[g].after.constantOnRandom} of ${l[g].before.units}</td></tr>`),
    )
    .join('')}</tbody></table>`;
  const tasks = `<table class="task"><thead><tr><th>layer</th><th>constructed before</th><th>after</th><th>matched control</th><th>after − control</th><th>after − base</th><th>training steps (constructed / control)</th></tr></thead><tbody>${r.layers
    .map(
      (l) =>
        `<tr data-layer-task="${esc(l.layer)}"><td>${esc(l.layer)}</td>${est(taskLoss(l.task.before), 'lossBefore')}${est(taskLoss(l.task.after), 'lossAfter')}${est(taskLoss(l.task.control), 'lossControl')}${est(l.task.vsControl, 'vsControl', true)}${est(l.task.vsBase, 'vsBase', true)}<td class="num">${l.trainingSteps.constructed} / ${l.trainingSteps.control}</td></tr>`,
    )
    .join('')}</tbody></table>`;
  const names = r.layers.map((l) => l.layer);
  const task = chart(
    `${prefix}task-metric`,
    bars('Held-out perplexity per layer', names, [
      { name: 'constructed, before', color: BEFORE, values: r.layers.map((l) => l.task.before.perplexity) },
      { name: 'constructed, after', color: AFTER, values: r.layers.map((l) => l.task.after.perplexity) },
      { name: 'matched control', color: CONTROL, values: r.layers.map((l) => l.task.control.perplexity) },
    ], 'perplexity'),
  );
  const ablated = r.layers.filter((l) => l.ablation);
  const dependence = ablated.length
    ? chart(
        `${prefix}dependence`,
        bars('Loss increase per neuron held at its mean', ablated.map((l) => l.layer), [
          { name: 'legible', color: LEGIBLE, values: ablated.map((l) => perNeuron(l.ablation!.legible.mean.value, l.ablation!.legible.units)) },
          { name: 'free', color: FREE, values: ablated.map((l) => perNeuron(l.ablation!.free.mean.value, l.ablation!.free.units)) },
          { name: 'random subsets', color: RANDOM, values: ablated.map((l) => perNeuron(l.ablation!.random.mean.value, l.ablation!.random.units)) },
        ], 'held-out loss increase per neuron (nats)'),
      )
    : '';
  const ablation = ablated.length
    ? `<table class="ablation"><thead><tr><th>layer</th><th>clean loss</th><th>group</th><th>neurons</th><th>zero-ablated</th><th>per neuron</th><th>mean-ablated</th><th>per neuron</th></tr></thead><tbody>${ablated
        .flatMap((l) =>
          (['legible', 'free', 'random'] as const).map((g) => {
            const a = l.ablation![g];
            const perUnit = (e: Estimate) => `<td class="num">${a.units ? `${e.value >= 0 ? '+' : '-'}${Math.abs(e.value / a.units).toFixed(4)}` : '—'}</td>`;
            return `<tr><td>${esc(l.layer)}</td>${est(l.ablation!.cleanLoss)}<td>${g}</td><td class="num">${a.units}</td>${a.units ? est(a.zero, `${g}Zero`, true) : num(NaN)}${perUnit(a.zero)}${a.units ? est(a.mean, `${g}Mean`, true) : num(NaN)}${perUnit(a.mean)}</tr>`;
          }),
        )
        .join('')}</tbody></table><p class="meta">Held-out loss increase (nats per token, 95% interval over sentences) of the final model when a group of the layer's neurons is held at zero, or each at its mean activation on the held-out text. ReLU neurons are never negative, so zeroing moves dense neurons further from their usual values than sparse ones: mean ablation is the fairer comparison. Random: the mean over 5 random subsets of the legible group's size.</p>`
    : '';
  let layers = '';
  for (const l of r.layers) layers += await layerSection(l, corpus, chart, store, prefix);
  return `<section><h2>Per layer</h2>
<p>${esc(describeCorpus(r.corpus))}; seed ${r.seed}; base model held-out loss ${esc(withInterval(taskLoss(r.base)))}, perplexity ${r.base.perplexity.toFixed(1)}. Backend: ${esc(r.backends.join(', '))}.</p>
${EXPLAINED}<h3>Explanation scores (all tokens of the score text)</h3>${scores}<p class="meta" data-key="legibleLabels">Labels of the legible neurons: ${esc(r.layers.map((l) => `${l.layer} ${labelLine(l)}`).join('; '))}.</p><h3>Top-and-random and random-only</h3><p class="meta">Each neuron's ${r.layers[0]?.sentencesPerUnit?.top ?? 0} top-activating and ${r.layers[0]?.sentencesPerUnit?.random ?? 0} random score sentences, chosen from the activations before alignment and reused after; mean over neurons with a 95% interval. "Constant": neurons whose simulation is constant on their random sentences (random-only is then 0 by definition).</p>${other}<h3>Task metric (held-out loss, nats per token)</h3>${tasks}<div class="charts">${task}${dependence}</div>${ablation ? `<h3>Dependence of the final model</h3>${ablation}` : ''}</section>${faithfulnessSection(r, chart, prefix)}${layers}`;
}

/** Substitution (table and chart of the four losses), the network on its labels alone, the controls and the scorers. */
function faithfulnessSection(r: PipelineReport, chart: Chart, prefix: string): string {
  const layers = r.layers.filter((l) => l.faithfulness);
  if (layers.length === 0) return '';
  const rows = layers.flatMap((l) => faithfulnessRows(l).map((x) => ({ layer: l.layer, ...x })));
  const table = `<table class="faithfulness"><thead><tr><th>layer</th><th>group</th><th>when</th><th>clean</th><th>substituted</th><th>zero-ablated</th><th>mean-ablated</th><th>recovered vs mean</th><th>vs zero</th></tr></thead><tbody>${rows
    .map(
      ({ layer, group, when, f }) =>
        `<tr data-faithfulness="${esc(`${layer}/${group}/${when}`)}"><td>${esc(layer)}</td><td>${group}</td><td>${when}</td>${est(f.cleanLoss)}${est(f.substitutedLoss)}${est(f.zeroAblatedLoss)}${est(f.meanAblatedLoss)}${est(f.recoveredVsMean, 'recoveredVsMean')}${est(f.recoveredVsZero, 'recoveredVsZero')}</tr>`,
    )
    .join('')}</tbody></table>`;
  const above = (pick: (f: Faithfulness) => Estimate) => rows.map(({ f }) => pick(f).value - f.cleanLoss.value);
  const losses = chart(
    `${prefix}substitution`,
    bars('Held-out loss above the clean model (clean = 0)', rows.map((x) => `${x.layer} ${x.group} ${x.when}`), [
      { name: 'substituted by the labels', color: AFTER, values: above((f) => f.substitutedLoss) },
      { name: 'mean-ablated', color: RANDOM, values: above((f) => f.meanAblatedLoss) },
      { name: 'zero-ablated', color: FREE_BEFORE, values: above((f) => f.zeroAblatedLoss) },
    ], 'nats per token'),
  );
  const a = r.labelsAlone;
  const alone = a
    ? `<p data-key="labelsAlone">The network on its labels alone (every processed layer's legible neurons substituted, free ones held at their means): loss ${esc(withInterval(a.labelsAloneLoss))}, against the final model ${esc(withInterval(a.finalLoss))}, the base model ${esc(withInterval(a.baseLoss))} and a unigram predictor ${esc(withInterval(a.unigramLoss))}. Share of the base model's advantage over the unigram predictor that survives: <b>${esc(withInterval(a.survivingShare))}</b> (the final model itself: ${esc(withInterval(a.finalShare))}).</p>`
    : '';
  const controlled = layers.filter((l) => l.controls && l.legibleUnits.length > 0);
  const controls = controlled.length
    ? `<h3>Controls</h3><p class="meta">Mean top-and-random score after alignment on the score text, same simulator [95% interval over neurons]: the legible neurons with their aligned labels, with each other's labels (shuffled), with labels of concepts drawn at random, and every neuron of a randomly initialised network of the same shape, explained and scored alike. The real labels should beat every control by ${CONTROL_GAP}.</p><table class="controls"><thead><tr><th>layer</th><th>aligned labels</th><th>shuffled labels</th><th>random labels</th><th>random network</th><th>verdict</th></tr></thead><tbody>${controlled
        .map((l) => `<tr><td>${esc(l.layer)}</td>${est(l.legible.after.topAndRandom)}${est(l.controls!.shuffledLabels?.topAndRandom, 'shuffledLabels')}${est(l.controls!.randomLabels.topAndRandom, 'randomLabels')}${est(l.controls!.randomModel.topAndRandom, 'randomModel')}<td>${esc(controlVerdict(l))}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  const scorers = `<h3>Detection, fuzzing and AUC</h3><p class="meta">On the score text, from each label's simulation alone; mean over neurons [95% interval]; 0.5 = chance. Detection: telling sentences where the neuron fires (at least half its maximum) from the others. Fuzzing: telling its active tokens highlighted from as many wrongly highlighted ones. AUC: the simulation ranking active tokens above the rest. (k/n): only k of the group's n neurons have the figure (detection needs sentences where the neuron fires and sentences where it does not).</p><table class="scorers"><thead><tr><th>layer</th><th>group</th><th>detection before</th><th>after</th><th>fuzzing before</th><th>after</th><th>AUC before</th><th>after</th></tr></thead><tbody>${layers
    .flatMap((l) =>
      (['legible', 'free'] as const)
        .filter((g) => l[g].before.units > 0)
        .map((g) => `<tr><td>${esc(l.layer)}</td><td>${g}</td>${(['detection', 'fuzzing', 'auc'] as const).flatMap((k) => [l[g].before, l[g].after].map((x) => `<td class="num" data-value="${x[k]?.value ?? NaN}">${esc(scorerCell(x, k))}</td>`)).join('')}</tr>`),
    )
    .join('')}</tbody></table>`;
  return `<section><h2>Faithfulness: is the label the neuron?</h2><p>Held-out loss on the score text (nats per token, 95% interval over sentences) with a group's activations replaced by its labels' simulations (each mapped to its neuron by a least-squares line fitted on the select text, never the score text), held at zero, and held at their means on the select text. Recovered = (ablated − substituted) / (ablated − clean): 1 means the labels stand in for the neurons, 0 means no better than ablation. Before: each neuron's own label on the model before its layer (post hoc, as in Paulo and Belrose 2025). After: the aligned label on the constructed model. — where ablating the group costs nothing measurable (nothing to recover). Read "vs mean": the fitted line alone restores each neuron's mean, so even a useless label recovers much against zero ablation.</p>${r.layers[0]?.alignment ? `<p class="meta" data-key="alignment">Alignment: ${esc(alignmentLine(r.layers[0]))}.</p>` : ''}${table}<div class="charts">${losses}</div>${alone}${controls}${scorers}</section>`;
}

/** A unit's all-tokens score, with its 95% interval where the run gives one. */
const unitCell = (s: UnitScore | undefined, key: string) => (s?.allTokensCi95 ? est({ value: s.allTokens, ci95: s.allTokensCi95 }, key) : num(s?.allTokens ?? NaN, 3, key));
const taskLoss = (m: { loss: number; ci95: { loss: [number, number] } }): Estimate => ({ value: m.loss, ci95: m.ci95.loss });
const perNeuron = (x: number, units: number) => (units === 0 ? 0 : x / units);

async function layerSection(l: LayerReport, corpus: ReturnType<typeof corpusFromBundle>, chart: Chart, store: ArtifactStore, prefix: string): Promise<string> {
  const legible = new Set(l.legibleUnits);
  const pick = (scores: UnitScore[], isLegible: boolean) => scores.filter((s) => legible.has(s.unit) === isLegible).map((s) => s.allTokens);
  const hist = chart(
    `${prefix}${l.layer}-scores`,
    histogram(
      `${l.layer}: explanation scores before and after alignment`,
      [
        { name: 'legible, before', color: LEGIBLE_BEFORE, values: pick(l.scoresBefore, true) },
        { name: 'legible, after', color: LEGIBLE, values: pick(l.scoresAfter, true) },
        { name: 'free, before', color: FREE_BEFORE, values: pick(l.scoresBefore, false) },
        { name: 'free, after', color: FREE, values: pick(l.scoresAfter, false) },
      ],
      'explanation score (all tokens of the score text)',
    ),
  );
  const b = await store.getBundle<{ width: number }>(l.recordsAfter);
  const truth = activationsOnSplit(corpus, 'score', b.meta.width, b.arrays.activations as Float32Array);
  const before = await store.getBundle<{ width: number }>(l.recordsBefore);
  const chooseFrom = activationsOnSplit(corpus, 'score', before.meta.width, before.arrays.activations as Float32Array);
  const ownLabels = await readLabels(store, l.labels);
  const alignedLabels = await readLabels(store, l.alignedLabels);
  const simulated = await readSimulations(store, l.simulations, truth.words.length);
  const scoreBefore = new Map(l.scoresBefore.map((s) => [s.unit, s]));
  const scoreAfter = new Map(l.scoresAfter.map((s) => [s.unit, s]));
  const feature = new Map((l.dictionary?.assignments ?? []).map((a) => [a.neuron, a]));
  const units = Array.from({ length: l.width }, (_, u) => u);
  const neuronTable = `<table class="neurons"><thead><tr><th>neuron</th><th>group</th><th>own label</th>${l.dictionary ? '<th>feature (score)</th><th>feature label</th>' : ''}<th>score before</th><th>after</th><th>top-and-random before</th><th>after</th></tr></thead><tbody>${units
    .map((u) => {
      const f = feature.get(u);
      const dict = l.dictionary ? (f ? `<td>#${f.feature} (${f.featureScore.toFixed(3)}; r ${f.correlation.toFixed(2)})</td><td>${esc(alignedLabels.get(u) ?? '')}</td>` : '<td>—</td><td>—</td>') : '';
      return `<tr data-unit="${u}"><td>${u}</td><td>${legible.has(u) ? 'legible' : 'free'}</td><td>${esc(ownLabels.get(u) ?? '(no label)')}</td>${dict}${unitCell(scoreBefore.get(u), 'before')}${unitCell(scoreAfter.get(u), 'after')}${num(scoreBefore.get(u)?.topAndRandom ?? NaN)}${num(scoreAfter.get(u)?.topAndRandom ?? NaN)}</tr>`;
    })
    .join('')}</tbody></table>`;
  const dictionary = l.dictionary ? dictionarySection(l) : '';
  const free = l.scoresAfter.filter((s) => !legible.has(s.unit)).sort((x, y) => y.allTokens - x.allTokens).slice(0, 4).map((s) => s.unit);
  const cards = [...l.legibleUnits, ...free]
    .map((u) => neuronCard(l.layer, u, legible.has(u), alignedLabels.get(u) ?? '(no label)', scoreBefore.get(u)?.allTokens ?? NaN, scoreAfter.get(u)?.allTokens ?? NaN, truth, chooseFrom, simulated.get(u)))
    .join('');
  return `<section><h2>Layer ${esc(l.layer)}</h2><div class="charts">${hist}</div>${dictionary}<h3>Every neuron</h3><p class="meta">Scores on all tokens of the score text [95% interval over sentences]; before with the neuron's own label, after with the label it was aligned to.${l.dictionary ? ' A dictionary feature\'s score, and its correlation r with the neuron, are measured on the selection text.' : ''}</p>${neuronTable}<h3>Neuron cards</h3><p class="meta">Legible neurons, then the best-explained free ones, on held-out score sentences (top-activating and random, as chosen before alignment), with the final model's activations. Each token is shaded by its true activation (top bar) and by the activation simulated from the label (bottom bar), both on the neuron's scale: the simulation is mapped to activations by a least-squares line over the score text, and both bars are divided by the neuron's largest true activation there.</p><div class="cards">${cards}</div></section>`;
}

function dictionarySection(l: LayerReport): string {
  const d = l.dictionary!;
  const rows = d.assignments
    .map((a) => `<tr><td>#${a.feature}</td><td>${a.neuron}</td>${num(a.featureScore)}${num(a.correlation, 2)}</tr>`)
    .join('');
  return `<h3>Dictionary</h3><p>${d.features} features (${d.liveFeatures} live, ${(100 * d.deadFraction).toFixed(0)}% dead); variance explained ${d.fractionOfVarianceExplained.toFixed(3)}; mean L0 ${d.meanL0.toFixed(2)}. Mean all-tokens score on the selection text of every feature (a dead one counts 0): ${d.meanFeatureScore.toFixed(3)}; of every neuron with its own label: ${d.meanNeuronScore.toFixed(3)}. ${d.assignments.length} features were given one each to a neuron by an optimal matching (Hungarian algorithm) on their activations' correlation on held-out text, none below ${d.minCorrelation}. Before alignment the legible neurons score ${esc(withInterval(l.legible.before.allTokens))} with their own labels and ${esc(withInterval(d.legibleBeforeWithFeatureLabels.allTokens))} with their features' labels (score text).</p><table class="dictionary"><thead><tr><th>feature</th><th>neuron</th><th>feature score</th><th>correlation</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function neuronCard(layer: string, unit: number, isLegible: boolean, label: string, before: number, after: number, truth: LayerActivations, chooseFrom: LayerActivations, sim: Float32Array | undefined): string {
  const chosen = selectSentences(chooseFrom, unit, 3, 2, unit + 1);
  const n = truth.words.length;
  const actual = Float64Array.from({ length: n }, (_, k) => truth.activations[k * truth.width + unit]!);
  // The simulation on the neuron's own scale: the least-squares line of true on simulated activations.
  let mapped = new Float64Array(n);
  if (sim) {
    let ms = 0, ma = 0;
    for (let k = 0; k < n; k++) {
      ms += sim[k]!;
      ma += actual[k]!;
    }
    ms /= n;
    ma /= n;
    let cov = 0, vs = 0;
    for (let k = 0; k < n; k++) {
      cov += (sim[k]! - ms) * (actual[k]! - ma);
      vs += (sim[k]! - ms) ** 2;
    }
    const slope = vs > 0 ? cov / vs : 0;
    mapped = Float64Array.from({ length: n }, (_, k) => ma + slope * (sim[k]! - ms));
  }
  const max = Math.max(1e-9, ...actual);
  const sentenceHtml = (s: number) => {
    const tokens: string[] = [];
    // Byte-level BPE tokens (GPT-2's) carry their own spaces (" river"): shown as they are, side by side, so that a
    // word split into pieces reads as one word; word tokens are shown with a space between them.
    let bpe = false;
    for (let k = truth.starts[s]!; k < truth.starts[s + 1]!; k++) bpe ||= /^\s/.test(truth.words[k]!);
    for (let k = truth.starts[s]!; k < truth.starts[s + 1]!; k++) {
      const a = actual[k]!;
      const t = Math.min(1, Math.max(0, a) / max);
      const v = sim ? Math.min(1, Math.max(0, mapped[k]!) / max) : 0;
      tokens.push(
        `<span class="tok" title="true ${a.toFixed(2)} · simulated ${sim ? `${sim[k]!.toFixed(1)}/10 → ${mapped[k]!.toFixed(2)}` : '-'}"><span class="w">${esc(truth.words[k]!)}</span><span class="t" style="opacity:${t.toFixed(2)}"></span><span class="s" style="opacity:${v.toFixed(2)}"></span></span>`,
      );
    }
    return bpe ? `<p class="sent bpe">${tokens.join('')}</p>` : `<p class="sent">${tokens.join(' ')}</p>`;
  };
  return `<article class="card ${isLegible ? 'legible' : 'free'}" data-unit="${unit}"><h4>${esc(layer)} #${unit} <span class="tag">${isLegible ? 'legible' : 'free'}</span></h4>
<p class="label">${esc(label)}</p><p class="meta">all-tokens score ${before.toFixed(3)} → ${after.toFixed(3)} · largest true activation ${max.toFixed(2)}</p>
<h5>Top-activating</h5>${chosen.top.map(sentenceHtml).join('')}<h5>Random</h5>${chosen.random.map(sentenceHtml).join('')}</article>`;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#1d2430;background:#fbfbfd}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2ea}h3{font-size:15px}
.meta{color:#5a6473;font-size:12px}code{font-size:12px}pre.yaml{background:#fff;border:1px solid #e4e8ee;padding:8px 12px;font-size:12px;overflow:auto}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:4px 10px;border-bottom:1px solid #e4e8ee;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.neurons td{font-size:12px;padding:2px 8px}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;background:#fff;border:1px solid #e4e8ee;border-radius:6px;padding:6px}
.chart .title{font-size:13px;font-weight:600}.chart .axis{font-size:11px;fill:#5a6473}.chart .tick{font-size:10px;fill:#5a6473}.chart .frame{stroke:#8a94a3}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e4e8ee;border-left:4px solid ${FREE};border-radius:6px;padding:8px 12px}.card.legible{border-left-color:${LEGIBLE}}
.card h4{margin:0;font-size:13px}.card h5{margin:6px 0 2px;font-size:11px;color:#5a6473;text-transform:uppercase}.tag{font-weight:400;color:#5a6473}
.label{margin:4px 0;font-weight:600}.sent{margin:2px 0;line-height:2}
.tok{display:inline-flex;flex-direction:column;margin-right:2px}.tok .w{padding:0 1px}.bpe .tok{margin-right:1px}.bpe .tok .w{white-space:pre;padding:0}.tok .t{height:4px;background:${LEGIBLE}}.tok .s{height:4px;background:${AFTER}}
details{margin:12px 0}summary{cursor:pointer;font-weight:600}
`;
