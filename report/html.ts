// The results report of a run or a sweep: one self-contained HTML file (inline SVG and CSS, no script, no network)
// plus each chart as an SVG file. Per layer: the table of scores and task metric, histograms of explanation scores
// before and after alignment (legible and free), the task metric per layer, the dependence on legible and free
// neurons (ablation), and neuron cards (label, scores, top and random examples shaded by true and simulated
// activation, like OpenAI's neuron viewer). For a sweep: the tradeoff curve and table, then each point's report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusFromBundle, type CorpusMeta } from '../data/corpus';
import { activationsOnSplit, selectSentences, type LayerActivations } from '../interp/records';
import { readLabels, readSimulations } from '../llm/artifacts';
import { SIMULATION_MAX } from '../llm/types';
import type { ArtifactStore } from '../store/artifacts';
import type { LayerReport, PipelineReport, SweepReport } from '../workflows/pipeline';
import { sweepRows } from './text';
import { bars, histogram, tradeoff } from './svg';

const LEGIBLE = '#2f7d4f';
const FREE = '#b0623a';
const BEFORE = '#9aa8bf';
const AFTER = '#3060c0';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A number cell that carries its exact value, so the figures can be checked against the run's results. */
const num = (v: number, digits = 3, key = '') => `<td class="num" data-value="${v}"${key ? ` data-key="${key}"` : ''}>${Number.isNaN(v) ? '—' : v.toFixed(digits)}</td>`;

export interface WrittenReport {
  html: string;
  charts: string[];
}

/** Writes the report of a finished run or sweep into `dir` (index.html and one SVG per chart). */
export function writeReport(dir: string, workflowId: string, result: PipelineReport | SweepReport, store: ArtifactStore): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const charts: [string, string][] = [];
  const chart = (name: string, svg: string) => {
    charts.push([`${name}.svg`, svg]);
    return `<figure>${svg}</figure>`;
  };
  const body = 'points' in result ? sweepSection(result, chart, store) : runSection(result, chart, store, '');
  const title = 'points' in result ? `Legible sweep ${result.pipeline}` : `Legible run ${result.pipeline}`;
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<header><h1>${esc(title)}</h1><p class="meta">workflow <code>${esc(workflowId)}</code> · pipeline sha256 <code>${esc(result.pipelineHash.slice(0, 12))}</code></p></header>
${body}
</body></html>`;
  const index = join(dir, 'index.html');
  writeFileSync(index, html);
  for (const [name, svg] of charts) writeFileSync(join(dir, name), svg);
  return { html: index, charts: charts.map(([name]) => join(dir, name)) };
}

type Chart = (name: string, svg: string) => string;

function sweepSection(r: SweepReport, chart: Chart, store: ArtifactStore): string {
  const rows = sweepRows(r);
  const curve = chart(
    'sweep-tradeoff',
    tradeoff(
      'Tradeoff: task metric against legibility',
      rows.filter((x) => !Number.isNaN(x.legibleAfter)).map((x) => ({ x: x.legibleAfter, y: x.perplexity, label: x.settings })),
      'mean legible-neuron score after alignment',
      'held-out perplexity (final model)',
    ),
  );
  const table = `<table class="sweep"><thead><tr><th>setting</th><th>legible score before</th><th>after</th><th>free score after</th><th>perplexity</th><th>base perplexity</th></tr></thead><tbody>${rows
    .map((x, i) => `<tr data-point="${i}"><td>${esc(x.settings)}</td>${num(x.legibleBefore, 3, 'legibleBefore')}${num(x.legibleAfter, 3, 'legibleAfter')}${num(x.freeAfter, 3, 'freeAfter')}${num(x.perplexity, 1, 'perplexity')}${num(x.basePerplexity, 1, 'basePerplexity')}</tr>`)
    .join('')}</tbody></table>`;
  const points = r.points.map((p, i) => `<details><summary>Point ${i}: ${esc(rows[i]!.settings)} (<code>${esc(p.workflowId)}</code>)</summary>${runSection(p.report, chart, store, `point${i}-`)}</details>`).join('');
  return `<section><h2>Tradeoff</h2><p>Each point is one run of the pipeline with the setting shown; scores are means over the layers that have legible (or free) neurons, and a setting without legible neurons has no point on the curve.</p>${curve}${table}</section>${points}`;
}

function runSection(r: PipelineReport, chart: Chart, store: ArtifactStore, prefix: string): string {
  const corpus = corpusFromBundle(store.getBundle<CorpusMeta>(r.corpus.ref));
  const table = `<table class="layers"><thead><tr><th>layer</th><th>legible</th><th>legible score before</th><th>after</th><th>free score before</th><th>after</th><th>perplexity before</th><th>after</th><th>accuracy before</th><th>after</th></tr></thead><tbody>${r.layers
    .map(
      (l) =>
        `<tr data-layer="${esc(l.layer)}"><td>${esc(l.layer)}</td><td>${l.legibleUnits.length}/${l.width}</td>${num(l.legibleUnits.length > 0 ? l.legibleBefore : NaN, 3, 'legibleBefore')}${num(l.legibleUnits.length > 0 ? l.legibleAfter : NaN, 3, 'legibleAfter')}${num(l.legibleUnits.length < l.width ? l.freeBefore : NaN, 3, 'freeBefore')}${num(l.legibleUnits.length < l.width ? l.freeAfter : NaN, 3, 'freeAfter')}${num(l.taskBefore.perplexity, 1, 'perplexityBefore')}${num(l.taskAfter.perplexity, 1, 'perplexityAfter')}${num(l.taskBefore.accuracy, 3, 'accuracyBefore')}${num(l.taskAfter.accuracy, 3, 'accuracyAfter')}</tr>`,
    )
    .join('')}</tbody></table>`;
  const names = r.layers.map((l) => l.layer);
  const task = chart(
    `${prefix}task-metric`,
    bars('Held-out perplexity before and after each layer', names, [
      { name: 'before', color: BEFORE, values: r.layers.map((l) => l.taskBefore.perplexity) },
      { name: 'after', color: AFTER, values: r.layers.map((l) => l.taskAfter.perplexity) },
    ], 'perplexity'),
  );
  const ablated = r.layers.filter((l) => l.ablation);
  const dependence = ablated.length
    ? chart(
        `${prefix}dependence`,
        bars('Loss increase with a group of neurons held at zero', ablated.map((l) => l.layer), [
          { name: 'legible neurons ablated', color: LEGIBLE, values: ablated.map((l) => l.ablation!.lossWithoutLegible - l.ablation!.loss) },
          { name: 'free neurons ablated', color: FREE, values: ablated.map((l) => l.ablation!.lossWithoutFree - l.ablation!.loss) },
        ], 'held-out loss increase (nats)'),
      )
    : '';
  const layers = r.layers.map((l) => layerSection(l, corpus, chart, store, prefix)).join('');
  return `<section><h2>Per layer</h2>
<p>${r.corpus.sentences} sentences of WordNet glosses (${r.corpus.trainTokens} training tokens, ${r.corpus.heldOutTokens} held out); base model perplexity ${r.base.perplexity.toFixed(1)}. Backend: ${esc(r.backends.join(', '))}.</p>
${table}<div class="charts">${task}${dependence}</div></section>${layers}`;
}

function layerSection(l: LayerReport, corpus: ReturnType<typeof corpusFromBundle>, chart: Chart, store: ArtifactStore, prefix: string): string {
  const legible = new Set(l.legibleUnits);
  const pick = (scores: typeof l.scoresAfter, isLegible: boolean) => scores.filter((s) => legible.has(s.unit) === isLegible).map((s) => s.topAndRandom);
  const hist = chart(
    `${prefix}${l.layer}-scores`,
    histogram(`${l.layer}: explanation scores before and after alignment`, [
      { name: 'legible, before', color: BEFORE, values: pick(l.scoresBefore, true) },
      { name: 'legible, after', color: LEGIBLE, values: pick(l.scoresAfter, true) },
      { name: 'free, after', color: FREE, values: pick(l.scoresAfter, false) },
    ]),
  );
  const b = store.getBundle<{ width: number }>(l.recordsAfter);
  const truth = activationsOnSplit(corpus, 'score', b.meta.width, b.arrays.activations as Float32Array);
  const labels = readLabels(store, l.labels);
  const simulated = readSimulations(store, l.simulations, truth.words.length);
  const before = new Map(l.scoresBefore.map((s) => [s.unit, s.topAndRandom]));
  const after = new Map(l.scoresAfter.map((s) => [s.unit, s.topAndRandom]));
  const free = l.scoresAfter.filter((s) => !legible.has(s.unit)).sort((x, y) => y.topAndRandom - x.topAndRandom).slice(0, 4).map((s) => s.unit);
  const cards = [...l.legibleUnits, ...free]
    .map((u) => neuronCard(l.layer, u, legible.has(u), labels.get(u) ?? '(no label)', before.get(u) ?? 0, after.get(u) ?? 0, truth, simulated.get(u)))
    .join('');
  return `<section><h2>Layer ${esc(l.layer)}</h2><div class="charts">${hist}</div><h3>Neuron cards</h3><p class="meta">Legible neurons, then the best-explained free ones. Each token is shaded by its true activation (top bar) and by the activation simulated from the label alone (bottom bar), on held-out sentences.</p><div class="cards">${cards}</div></section>`;
}

function neuronCard(layer: string, unit: number, isLegible: boolean, label: string, before: number, after: number, truth: LayerActivations, sim: Float32Array | undefined): string {
  const chosen = selectSentences(truth, unit, 3, 2, unit + 1);
  let max = 0;
  for (let k = unit; k < truth.activations.length; k += truth.width) max = Math.max(max, truth.activations[k]!);
  const sentenceHtml = (s: number) => {
    const tokens: string[] = [];
    for (let k = truth.starts[s]!; k < truth.starts[s + 1]!; k++) {
      const a = truth.activations[k * truth.width + unit]!;
      const t = max > 0 ? Math.max(0, a) / max : 0;
      const v = sim ? sim[k]! / SIMULATION_MAX : 0;
      tokens.push(
        `<span class="tok" title="true ${a.toFixed(2)} · simulated ${sim ? sim[k]!.toFixed(1) : '-'}"><span class="w">${esc(truth.words[k]!)}</span><span class="t" style="opacity:${t.toFixed(2)}"></span><span class="s" style="opacity:${v.toFixed(2)}"></span></span>`,
      );
    }
    return `<p class="sent">${tokens.join(' ')}</p>`;
  };
  return `<article class="card ${isLegible ? 'legible' : 'free'}" data-unit="${unit}"><h4>${esc(layer)} #${unit} <span class="tag">${isLegible ? 'legible' : 'free'}</span></h4>
<p class="label">${esc(label)}</p><p class="meta">score ${before.toFixed(3)} → ${after.toFixed(3)}</p>
<h5>Top-activating</h5>${chosen.top.map(sentenceHtml).join('')}<h5>Random</h5>${chosen.random.map(sentenceHtml).join('')}</article>`;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#1d2430;background:#fbfbfd}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2ea}h3{font-size:15px}
.meta{color:#5a6473;font-size:12px}code{font-size:12px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{padding:4px 10px;border-bottom:1px solid #e4e8ee;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;background:#fff;border:1px solid #e4e8ee;border-radius:6px;padding:6px}
.chart .title{font-size:13px;font-weight:600}.chart .axis{font-size:11px;fill:#5a6473}.chart .tick{font-size:10px;fill:#5a6473}.chart .frame{stroke:#8a94a3}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e4e8ee;border-left:4px solid ${FREE};border-radius:6px;padding:8px 12px}.card.legible{border-left-color:${LEGIBLE}}
.card h4{margin:0;font-size:13px}.card h5{margin:6px 0 2px;font-size:11px;color:#5a6473;text-transform:uppercase}.tag{font-weight:400;color:#5a6473}
.label{margin:4px 0;font-weight:600}.sent{margin:2px 0;line-height:2}
.tok{display:inline-flex;flex-direction:column;margin-right:2px}.tok .w{padding:0 1px}.tok .t{height:4px;background:${LEGIBLE}}.tok .s{height:4px;background:${AFTER}}
details{margin:12px 0}summary{cursor:pointer;font-weight:600}
`;
