// The text report of a finished run or sweep, as `legible run` prints it: per layer, the explanation scores of legible and
// free neurons before and after, the task metric before and after (the legibility tax), and the backend.
import type { PipelineReport, SweepReport } from '../workflows/pipeline';

export function formatReport(r: PipelineReport): string {
  const f3 = (x: number) => x.toFixed(3);
  const header = ['layer', 'legible', 'legible score before', 'after', 'free score before', 'after', 'perplexity before', 'after', 'accuracy before', 'after'];
  const rows = r.layers.map((l) => [
    l.layer,
    `${l.legibleUnits.length}/${l.width}`,
    l.legibleUnits.length > 0 ? f3(l.legibleBefore) : '—',
    l.legibleUnits.length > 0 ? f3(l.legibleAfter) : '—',
    l.legibleUnits.length < l.width ? f3(l.freeBefore) : '—',
    l.legibleUnits.length < l.width ? f3(l.freeAfter) : '—',
    l.taskBefore.perplexity.toFixed(1),
    l.taskAfter.perplexity.toFixed(1),
    f3(l.taskBefore.accuracy),
    f3(l.taskAfter.accuracy),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `pipeline ${r.pipeline} (sha256 ${r.pipelineHash.slice(0, 12)})`,
    `corpus: ${r.corpus.sentences} sentences, ${r.corpus.tokens} tokens (train ${r.corpus.trainTokens}, held out ${r.corpus.heldOutTokens}), vocabulary ${r.corpus.vocabularySize}`,
    `base model: held-out perplexity ${r.base.perplexity.toFixed(1)}, accuracy ${f3(r.base.accuracy)}`,
    'scores: mean top-and-random correlation of simulated and true activations on held-out text',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...dictionaryLines(r),
    ...ablationLines(r),
    '',
    `backend: ${r.backends.join(', ')}`,
    ...(r.usage.calls + r.usage.cachedCalls > 0
      ? [`language model: ${r.usage.calls} calls (and ${r.usage.cachedCalls} answered from the cache), ${r.usage.promptTokens} prompt and ${r.usage.completionTokens} completion tokens`]
      : []),
  ].join('\n');
}

function dictionaryLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.dictionary);
  if (layers.length === 0) return [];
  return [
    '',
    'dictionary learning (feature and neuron scores on the selection text):',
    ...layers.map((l) => {
      const d = l.dictionary!;
      return `  ${l.layer}: ${d.features} features (${d.liveFeatures} live, dead ${(100 * d.deadFraction).toFixed(0)}%), variance explained ${d.fractionOfVarianceExplained.toFixed(3)}, mean L0 ${d.meanL0.toFixed(2)}; mean feature score ${d.meanFeatureScore.toFixed(3)} vs neuron score ${d.meanNeuronScore.toFixed(3)}`;
    }),
  ];
}

function ablationLines(r: PipelineReport): string[] {
  const layers = r.layers.filter((l) => l.ablation);
  if (layers.length === 0) return [];
  return [
    '',
    'dependence of the final model (held-out loss increase with a group of neurons held at zero):',
    ...layers.map((l) => {
      const a = l.ablation!;
      return `  ${l.layer}: without its ${l.legibleUnits.length} legible neurons +${(a.lossWithoutLegible - a.loss).toFixed(3)}, without its ${l.width - l.legibleUnits.length} free neurons +${(a.lossWithoutFree - a.loss).toFixed(3)} (loss ${a.loss.toFixed(3)})`;
    }),
  ];
}

/** A sweep's points: settings, mean legible score before and after, free score, final perplexity and its change. */
/**
 * A sweep's points: mean scores over the layers that have legible (or free) neurons, NaN where none has any, and
 * the final model's perplexity.
 */
export function sweepRows(r: SweepReport): { settings: string; legibleBefore: number; legibleAfter: number; freeAfter: number; perplexity: number; basePerplexity: number }[] {
  const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  return r.points.map((p) => {
    const layers = p.report.layers;
    const final = layers.length > 0 ? layers[layers.length - 1]!.taskAfter : p.report.base;
    return {
      settings: Object.entries(p.settings).map(([k, v]) => `${k}=${v}`).join(' '),
      legibleBefore: mean(layers.filter((l) => l.legibleUnits.length > 0).map((l) => l.legibleBefore)),
      legibleAfter: mean(layers.filter((l) => l.legibleUnits.length > 0).map((l) => l.legibleAfter)),
      freeAfter: mean(layers.filter((l) => l.legibleUnits.length < l.width).map((l) => l.freeAfter)),
      perplexity: final.perplexity,
      basePerplexity: p.report.base.perplexity,
    };
  });
}

export function formatSweep(r: SweepReport): string {
  const rows = sweepRows(r);
  const header = ['setting', 'legible score before', 'after', 'free score after', 'perplexity', 'vs base'];
  const cells = rows.map((x) => [
    x.settings,
    dash(x.legibleBefore),
    dash(x.legibleAfter),
    dash(x.freeAfter),
    x.perplexity.toFixed(1),
    `${x.perplexity >= x.basePerplexity ? '+' : ''}${(x.perplexity - x.basePerplexity).toFixed(1)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [
    `sweep ${r.pipeline}: ${r.points.length} points (mean over layers; perplexity of the final model, and its change from the base model)`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
  ].join('\n');
}

function dash(x: number): string {
  return Number.isNaN(x) ? '—' : x.toFixed(3);
}
