// The text report of a finished run or sweep, as `legible run` prints it. Every figure is named with the text it is
// measured on and what it is compared with, and carries its 95% interval: explanation scores of the legible and free
// neurons before and after alignment (on the same tokens), the task metric against the matched control and the
// base model, substitution (the labels in the neurons' place) with the controls beside the scores, the detection,
// fuzzing and AUC scorers, and what the final model loses when a group of neurons is held at zero or at its mean.
import type { Faithfulness } from '../interp/faithfulness';
import type { GroupScores } from '../interp/scoring';
import type { Estimate } from '../stats/bootstrap';
import { REPORT_VERSION, type LayerReport, type PipelineReport, type SweepReport } from '../workflows/pipeline';
import type { PipelineReportV1 } from '../workflows/pipeline-v1';

/** The report of a run, or a clear error for one recorded by an earlier version (whose figures mean other things). */
export function currentReport(r: PipelineReport | PipelineReportV1, workflowId = 'this run'): PipelineReport {
  if ('version' in r && r.version === REPORT_VERSION) return r;
  throw new Error(
    `${workflowId} was recorded by an earlier version of Legible, whose scores were not measured on fixed text and had no matched control or intervals; its figures are not comparable with today's. Run the pipeline again to get a report.`,
  );
}

const f3 = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(3));
const signed = (x: number, digits = 3) => (Number.isNaN(x) ? '—' : `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(digits)}`);
/** A figure with its 95% interval: `0.344 [0.301, 0.387]`; signed for differences. */
export function withInterval(e: Estimate, digits = 3, sign = false): string {
  // A figure that was not measured arrives as null (JSON has no NaN).
  if (e.value === null || Number.isNaN(e.value)) return '—';
  const f = (x: number) => (sign ? signed(x, digits) : x.toFixed(digits));
  const missing = (x: number | null) => x === null || Number.isNaN(x);
  return `${f(e.value)} [${missing(e.ci95[0]) || missing(e.ci95[1]) ? 'n/a' : `${f(e.ci95[0])}, ${f(e.ci95[1])}`}]`;
}

/** Rows of cells as a plain-text table: first column left-aligned, the others right-aligned. */
function textTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** "32/64 best", and where fewer than asked qualified, how many were asked and how many had a positive score. */
export function legibleCount(l: LayerReport): string {
  const base = `${l.legibleUnits.length}/${l.width} ${l.legibleSelection}`;
  if (l.legibleAsked === undefined || l.legibleUnits.length >= l.legibleAsked) return base;
  const random = l.legibleSelection === 'random' ? '; random = best' : '';
  return `${base} (${l.legibleAsked} asked, ${l.eligible} scored above 0${random})`;
}

/** How many legible neurons' labels name a concept rather than list words, and how many words they list. */
export function labelLine(l: LayerReport): string {
  const s = l.legibleLabels;
  if (!s || !s.labels) return '—';
  return `${Math.round(s.conceptShare * s.labels)}/${s.labels} concepts (${(100 * s.conceptShare).toFixed(0)}%), ${s.meanListedWords.toFixed(1)} listed words on average`;
}

/** How a layer was aligned, in words. */
export function alignmentLine(l: LayerReport): string {
  const a = l.alignment;
  if (!a) return '—';
  const mode = a.mode === 'substitute' ? "layers above retrained on the labels' simulations in the legible neurons' place (substitute)" : 'layers above retrained on the neurons (target)';
  return `weight ${a.weight}, off weight ${a.offWeight}, ${a.labels === 'permuted' ? "each neuron aligned to another's label (permuted: a control)" : 'each neuron aligned to its own label'}${a.note ? ` (${a.note})` : ''}; ${mode}`;
}

const hasLegible = (l: LayerReport) => l.legibleUnits.length > 0;
const hasFree = (l: LayerReport) => l.legibleUnits.length < l.width;

const SOURCES: Record<string, string> = { 'wordnet-glosses': "WordNet's glosses", brown: 'the Brown corpus', files: 'your text files' };

/**
 * The corpus a run used, in words: its sequences and their source, its tokens and how they split, the vocabulary,
 * and the share of held-out tokens outside it (read and predicted as <unk>). Runs recorded before sources, tokenizers
 * and segments existed used WordNet's glosses, word tokens and sentences.
 */
export function describeCorpus(c: PipelineReport['corpus']): string {
  const t = c.text ?? { source: 'wordnet-glosses', tokenizer: 'words', segment: 'sentences' };
  const unknown = c.text ? `; ${(100 * c.text.heldOutUnknownShare).toFixed(1)}% of held-out tokens are <unk>` : '';
  return `${c.sentences} distinct ${t.segment === 'windows' ? 'windows' : 'sentences'} of ${SOURCES[t.source] ?? t.source}, ${c.tokens} ${t.tokenizer === 'gpt2' ? 'GPT-2' : 'word'} tokens (train ${c.trainTokens}, held out ${c.heldOutTokens}, of which the score text ${c.scoreTokens}), vocabulary ${c.vocabularySize}${unknown}`;
}

export function formatReport(r: PipelineReport): string {
  const loss = (m: { loss: number; ci95: { loss: [number, number] }; perplexity: number }) => `${withInterval({ value: m.loss, ci95: m.ci95.loss })} (ppl ${m.perplexity.toFixed(1)})`;
  return [
    `pipeline ${r.pipeline} (sha256 ${r.pipelineHash.slice(0, 12)}), seed ${r.seed}`,
    `corpus: ${describeCorpus(r.corpus)}`,
    `base model: held-out loss ${loss(r.base)}, accuracy ${withInterval({ value: r.base.accuracy, ci95: r.base.ci95.accuracy })}`,
    '',
    'Explanation scores: correlation of a neuron\'s true activations with those simulated from its label, on every',
    'token of the score text (held-out sentences that neither the labels nor the choice of legible neurons saw).',
    'A neuron\'s activation at a token is computed from the context window ending at that token (it predicts the next).',
    'Before: each neuron\'s own label, on the model before its layer was aligned. After: the label it was aligned to,',
    'on the model after alignment and retraining, on the same tokens. Means over the group [95% interval over',
    'sentences and neurons]; gain = after − before, paired.',
    ...textTable(
      ['layer', 'legible', 'legible before', 'after', 'gain', 'free before', 'after'],
      r.layers.map((l) => [
        l.layer,
        legibleCount(l),
        hasLegible(l) ? withInterval(l.legible.before.allTokens) : '—',
        hasLegible(l) ? withInterval(l.legible.after.allTokens) : '—',
        hasLegible(l) && l.legible.after.gain ? withInterval(l.legible.after.gain, 3, true) : '—',
        hasFree(l) ? withInterval(l.free.before.allTokens) : '—',
        hasFree(l) ? withInterval(l.free.after.allTokens) : '—',
      ]),
    ),
    `labels of the legible neurons: ${r.layers.map((l) => `${l.layer} ${labelLine(l)}`).join('; ')}`,
    ...(r.layers[0]?.alignment ? [`alignment: ${alignmentLine(r.layers[0])}`] : []),
    '',
    `Top-and-random and random-only scores (each neuron's ${r.layers[0]?.sentencesPerUnit?.top ?? 0} top-activating and ${r.layers[0]?.sentencesPerUnit?.random ?? 0} random score sentences, chosen before`,
    'alignment and reused after; mean [95% interval over neurons]); "constant" counts neurons whose simulation is',
    'constant on their random sentences, so that their random-only score is 0 by definition:',
    ...textTable(
      ['layer', 'group', 'top-and-random before', 'after', 'random-only before', 'after', 'constant before/after'],
      r.layers.flatMap((l) =>
        (['legible', 'free'] as const)
          .filter((g) => l[g].before.units > 0)
          .map((g) => [
            l.layer,
            g,
            withInterval(l[g].before.topAndRandom),
            withInterval(l[g].after.topAndRandom),
            withInterval(l[g].before.randomOnly),
            withInterval(l[g].after.randomOnly),
            `${l[g].before.constantOnRandom}/${l[g].after.constantOnRandom} of ${l[g].before.units}`,
          ]),
      ),
    ),
    '',
    'Task: held-out next-token loss (nats per token) [95% interval over sentences] and perplexity. Constructed: the',
    'model being made legible, before and after the layer. Control: the same training schedule with no legible',
    'neurons. Differences are paired over the same sentences; negative = the constructed model predicts better.',
    ...textTable(
      ['layer', 'constructed before', 'after', 'matched control', 'after − control', 'after − base'],
      r.layers.map((l) => [l.layer, loss(l.task.before), loss(l.task.after), loss(l.task.control), withInterval(l.task.vsControl, 3, true), withInterval(l.task.vsBase, 3, true)]),
    ),
    `training steps (alignment + retraining, constructed / control): ${r.layers.map((l) => `${l.layer} ${l.trainingSteps.constructed} / ${l.trainingSteps.control}`).join(', ')}`,
    ...faithfulnessLines(r),
    ...controlLines(r),
    ...scorerLines(r),
    ...dictionaryLines(r),
    ...ablationLines(r),
    '',
    `backend: ${r.backends.join(', ')}`,
    ...(r.usage.calls + r.usage.cachedCalls > 0
      ? [`language model: ${r.usage.calls} calls (and ${r.usage.cachedCalls} answered from the cache), ${r.usage.promptTokens} prompt and ${r.usage.completionTokens} completion tokens`]
      : []),
  ].join('\n');
}

/** A group's mean detection, fuzzing or AUC with its interval, and "(k/n)" where only k of its n units have one. */
export function scorerCell(g: GroupScores, key: 'detection' | 'fuzzing' | 'auc'): string {
  const x = g[key];
  if (!x) return '—';
  const k = g.defined?.[key];
  return `${withInterval(x)}${k !== undefined && k < g.units ? ` (${k}/${g.units})` : ''}`;
}

/** Substitution: the four losses and the recovered fractions, per layer, group, before and after. */
function faithfulnessLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.faithfulness);
  if (layers.length === 0 && !r.labelsAlone) return [];
  const a = r.labelsAlone;
  return [
    '',
    'Faithfulness: is the label the neuron? Held-out loss on the score text (nats per token) with a group\'s activations',
    'replaced by its labels\' simulations (each mapped to its neuron by a least-squares line fitted on the select text),',
    'held at zero, and held at their means; recovered = (ablated − substituted) / (ablated − clean): 1 = the labels',
    'stand in for the neurons, 0 = no better than ablation. Before: own labels on the model before the layer (post',
    'hoc). After: the aligned labels on the constructed model. [95% intervals over sentences]; — where ablating the',
    'group costs nothing measurable. Read "vs mean": the fitted line alone restores each neuron\'s mean, so even a',
    'useless label recovers much against zero ablation.',
    ...textTable(
      ['layer', 'group', 'when', 'clean', 'substituted', 'zero-ablated', 'mean-ablated', 'recovered vs mean', 'vs zero'],
      layers.flatMap((l) =>
        faithfulnessRows(l).map(({ group, when, f: x }) => [l.layer, group, when, f3(x.cleanLoss.value), f3(x.substitutedLoss.value), f3(x.zeroAblatedLoss.value), f3(x.meanAblatedLoss.value), withInterval(x.recoveredVsMean), withInterval(x.recoveredVsZero)]),
      ),
    ),
    ...(a
      ? [
          `the network on its labels alone (every processed layer's legible neurons substituted, free ones mean-ablated): loss ${withInterval(a.labelsAloneLoss)}`,
          `  against the final model ${withInterval(a.finalLoss)}, the base model ${withInterval(a.baseLoss)} and a unigram predictor ${withInterval(a.unigramLoss)};`,
          `  share of the base model's advantage over the unigram predictor that survives: ${withInterval(a.survivingShare)} (the final model itself: ${withInterval(a.finalShare)})`,
          ...(Number.isNaN(a.survivingShare.value ?? NaN) ? ['  (— : the base model does not measurably beat the unigram predictor on this text, so there is no advantage to share)'] : []),
        ]
      : []),
  ];
}

/** A layer's substitution figures in table order: legible before and after, then free before and after (non-empty groups). */
export function faithfulnessRows(l: LayerReport): { group: 'legible' | 'free'; when: 'before' | 'after'; f: Faithfulness }[] {
  const f = l.faithfulness;
  if (!f) return [];
  const rows = [
    { group: 'legible' as const, when: 'before' as const, f: f.before },
    { group: 'legible' as const, when: 'after' as const, f: f.after },
    { group: 'free' as const, when: 'before' as const, f: f.free.before },
    { group: 'free' as const, when: 'after' as const, f: f.free.after },
  ];
  return rows.filter((x) => x.f.units > 0);
}

/** How far the real labels' top-and-random score after alignment must beat every control's. */
export const CONTROL_GAP = 0.3;

/** Whether the real labels beat every control by CONTROL_GAP, and which ones they do not. */
export function controlVerdict(l: LayerReport): string {
  const real = l.legible.after.topAndRandom.value;
  const c = l.controls!;
  const short = (Object.entries({ 'shuffled labels': c.shuffledLabels, 'random labels': c.randomLabels, 'random network': c.randomModel }) as [string, { topAndRandom: Estimate } | undefined][])
    .filter(([, g]) => g && !(real - g.topAndRandom.value >= CONTROL_GAP))
    .map(([name]) => name);
  return short.length === 0 ? `all ≥ ${CONTROL_GAP} below` : `NOT ≥ ${CONTROL_GAP} below: ${short.join(', ')}`;
}

/** The controls beside the real labels' scores after alignment (top-and-random and all tokens). */
function controlLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.controls && hasLegible(l));
  if (layers.length === 0) return [];
  return [
    '',
    'Controls (score text, same simulator, after alignment; mean top-and-random score [95% interval over neurons]):',
    'the legible neurons with their aligned labels; with each other\'s labels (shuffled); with labels of concepts drawn',
    'at random; and every neuron of a randomly initialised network of the same shape, explained and scored alike.',
    ...textTable(
      ['layer', 'aligned labels', 'shuffled labels', 'random labels', 'random network', 'controls'],
      layers.map((l) => [l.layer, withInterval(l.legible.after.topAndRandom), l.controls!.shuffledLabels ? withInterval(l.controls!.shuffledLabels.topAndRandom) : 'n/a (one neuron)', withInterval(l.controls!.randomLabels.topAndRandom), withInterval(l.controls!.randomModel.topAndRandom), controlVerdict(l)]),
    ),
  ];
}

/** Detection, fuzzing and AUC beside correlation, per layer and group, before and after. */
function scorerLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.legible.after.detection || l.free.after.detection);
  if (layers.length === 0) return [];
  const e = (g: GroupScores, key: 'detection' | 'fuzzing' | 'auc') => scorerCell(g, key);
  return [
    '',
    'Scorers beside correlation (score text; mean [95% interval over neurons]): detection = balanced accuracy of telling',
    'sentences where the neuron fires (≥ half its maximum) from the others by the simulation alone; fuzzing = balanced',
    'accuracy of telling its active tokens highlighted from as many wrongly highlighted ones; AUC of the simulation',
    'for the active tokens. 0.5 = chance for all three. (k/n): only k of the n neurons have the figure (detection needs',
    'sentences where the neuron fires and sentences where it does not).',
    ...textTable(
      ['layer', 'group', 'detection before', 'after', 'fuzzing before', 'after', 'AUC before', 'after'],
      layers.flatMap((l) =>
        (['legible', 'free'] as const)
          .filter((g) => l[g].before.units > 0)
          .map((g) => [l.layer, g, e(l[g].before, 'detection'), e(l[g].after, 'detection'), e(l[g].before, 'fuzzing'), e(l[g].after, 'fuzzing'), e(l[g].before, 'auc'), e(l[g].after, 'auc')]),
      ),
    ),
  ];
}

function dictionaryLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.dictionary);
  if (layers.length === 0) return [];
  return [
    '',
    'Dictionary learning (all-tokens scores on the selection text; every feature counts, a dead one as 0):',
    ...layers.map((l) => {
      const d = l.dictionary!;
      const corr = d.assignments.map((a) => a.correlation);
      return [
        `  ${l.layer}: ${d.features} features (${d.liveFeatures} live, dead ${(100 * d.deadFraction).toFixed(0)}%), variance explained ${d.fractionOfVarianceExplained.toFixed(3)}${d.fractionOfVarianceExplained < 0 ? ' (below 0: it reconstructs worse than the mean activation; train the dictionary longer)' : ''}, mean L0 ${d.meanL0.toFixed(2)}`,
        `    mean feature score ${f3(d.meanFeatureScore)} vs mean neuron score ${f3(d.meanNeuronScore)} (own labels)`,
        `    ${d.assignments.length} feature${d.assignments.length === 1 ? '' : 's'} assigned one-to-one to neurons (optimal matching, correlation on held-out text ≥ ${d.minCorrelation}${corr.length ? `: ${Math.min(...corr).toFixed(2)} to ${Math.max(...corr).toFixed(2)}` : ''})`,
        `    legible neurons before alignment: own labels ${withInterval(l.legible.before.allTokens)}, their features' labels ${withInterval(d.legibleBeforeWithFeatureLabels.allTokens)} (score text)`,
      ].join('\n');
    }),
  ];
}

function ablationLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.ablation);
  if (layers.length === 0) return [];
  const cell = (e: Estimate, units: number) => (units === 0 ? '—' : `${withInterval(e, 3, true)} (${signed(e.value / units, 4)}/neuron)`);
  return [
    '',
    'Dependence of the final model: held-out loss increase (nats per token) [95% interval over sentences] when a',
    'group of the layer\'s neurons is held at zero, or at each neuron\'s mean activation on the held-out text; per',
    'neuron in parentheses. Random: the mean over 5 random subsets of the legible group\'s size.',
    ...textTable(
      ['layer', 'clean loss', 'group', 'neurons', 'zero-ablated', 'mean-ablated'],
      layers.flatMap((l) => {
        const a = l.ablation!;
        return (['legible', 'free', 'random'] as const).map((g) => [l.layer, withInterval(a.cleanLoss), g, String(a[g].units), cell(a[g].zero, a[g].units), cell(a[g].mean, a[g].units)]);
      }),
    ),
  ];
}

export interface SweepRow {
  /** The point's settings without the seed. */
  settings: string;
  seeds: number[];
  /** Means over the layers that have legible (or free) neurons, per seed: all-tokens scores; NaN where none has any. */
  legibleBefore: number[];
  legibleAfter: number[];
  freeAfter: number[];
  /** Per seed: the final model's held-out perplexity, the matched control's and the base model's. */
  perplexity: number[];
  controlPerplexity: number[];
  basePerplexity: number[];
  /** Per seed: the final model's held-out loss minus the control's (nats per token), with its interval. */
  vsControl: Estimate[];
  /** Per seed: the legible neurons' recovered fraction after alignment (against mean ablation), mean over layers; NaN where not measured. */
  recovered: number[];
}

/** An estimate's value, NaN where it was not measured (NaN arrives from a workflow's JSON as null, which sums as 0). */
const valueOf = (e: Estimate): number => e.value ?? NaN;

/** A sweep's points grouped by their settings other than the seed (one row per setting, one entry per seed). */
export function sweepRows(r: SweepReport): SweepRow[] {
  const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  const rows = new Map<string, SweepRow>();
  for (const [i, point] of r.points.entries()) {
    const report = currentReport(point.report, point.workflowId);
    const settings = Object.entries(point.settings)
      .filter(([k]) => k !== 'seed')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const row = rows.get(settings) ?? { settings, seeds: [], legibleBefore: [], legibleAfter: [], freeAfter: [], perplexity: [], controlPerplexity: [], basePerplexity: [], vsControl: [], recovered: [] };
    const layers = report.layers;
    const last = layers.at(-1);
    row.seeds.push(point.settings.seed ?? report.seed ?? i);
    row.legibleBefore.push(mean(layers.filter(hasLegible).map((l) => valueOf(l.legible.before.allTokens))));
    row.legibleAfter.push(mean(layers.filter(hasLegible).map((l) => valueOf(l.legible.after.allTokens))));
    row.freeAfter.push(mean(layers.filter(hasFree).map((l) => valueOf(l.free.after.allTokens))));
    row.perplexity.push(last ? last.task.after.perplexity : report.base.perplexity);
    row.controlPerplexity.push(last ? last.task.control.perplexity : report.base.perplexity);
    row.basePerplexity.push(report.base.perplexity);
    row.vsControl.push(last ? last.task.vsControl : { value: 0, ci95: [0, 0] });
    row.recovered.push(mean(layers.filter((l) => hasLegible(l) && l.faithfulness).map((l) => valueOf(l.faithfulness!.after.recoveredVsMean))));
    rows.set(settings, row);
  }
  return [...rows.values()];
}

/** A sweep row's final − control loss differences: one seed's with its interval, or the mean ± sd over seeds and how
 * many seeds' intervals lie wholly below or above 0. */
export function versusControl(es: Estimate[]): string {
  if (es.length === 1) return withInterval(es[0]!, 3, true);
  const { mean, sd } = meanAndSpread(es.map((e) => e.value));
  return `${signed(mean)} ± ${sd.toFixed(3)} (${es.filter((e) => e.ci95[1] < 0).length} below 0, ${es.filter((e) => e.ci95[0] > 0).length} above)`;
}

/** Mean and sample standard deviation. */
export function meanAndSpread(xs: number[]): { mean: number; sd: number } {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1)) : 0;
  return { mean: m, sd };
}

export function formatSweep(r: SweepReport): string {
  const rows = sweepRows(r);
  const seeds = Math.max(...rows.map((x) => x.seeds.length));
  const cell = (xs: number[], digits = 3) => {
    if (xs.some(Number.isNaN)) return '—';
    const { mean, sd } = meanAndSpread(xs);
    return xs.length > 1 ? `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}` : mean.toFixed(digits);
  };
  return [
    `sweep ${r.pipeline}: ${r.failed?.length ? `${r.points.length} of ${r.points.length + r.failed.length} points finished` : `${r.points.length} points`}${seeds > 1 ? `, ${rows.length} settings × up to ${seeds} seeds (mean ± standard deviation over seeds)` : ''}`,
    'Scores: mean all-tokens correlation on the score text over the layers with legible (or free) neurons. Recovered:',
    'the legible neurons\' substitution after alignment (recovered fraction against mean ablation, mean over layers). Perplexity:',
    'the final model, its matched control (same training, no legible neurons) and the base model, on held-out text.',
    'final − control: held-out loss difference in nats per token, paired over sentences',
    seeds > 1 ? '(per seed a 95% interval; counted where it lies wholly below or above 0).' : '[95% interval].',
    '',
    ...textTable(
      ['setting', 'seeds', 'legible before', 'after', 'free after', 'recovered', 'perplexity', 'control', 'base', 'final − control'],
      rows.map((x) => [x.settings || '(none)', String(x.seeds.length), cell(x.legibleBefore), cell(x.legibleAfter), cell(x.freeAfter), cell(x.recovered), cell(x.perplexity, 1), cell(x.controlPerplexity, 1), cell(x.basePerplexity, 1), versusControl(x.vsControl)]),
    ),
    ...failedPoints(r),
  ].join('\n');
}

/** The lines on a sweep's failed points (none when every point finished): they are not in the table. */
export function failedPoints(r: SweepReport): string[] {
  if (!r.failed?.length) return [];
  return ['', `${r.failed.length} point${r.failed.length === 1 ? '' : 's'} failed and ${r.failed.length === 1 ? 'is' : 'are'} not in the table (\`legible resume\` with the sweep's id runs ${r.failed.length === 1 ? 'it' : 'them'} again):`, ...r.failed.map((f) => `  ${f.workflowId} (${Object.entries(f.settings).map(([k, v]) => `${k} ${v}`).join(', ')}): ${f.failure}`)];
}
