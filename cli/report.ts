// Formats a finished run's report as the per-layer table `legible run` prints: explanation scores of legible and
// free neurons before and after, the task metric before and after (the legibility tax), and the backend.
import type { PipelineReport } from '../workflows/pipeline';

export function formatReport(r: PipelineReport): string {
  const f3 = (x: number) => x.toFixed(3);
  const header = ['layer', 'legible', 'legible score before', 'after', 'free score before', 'after', 'perplexity before', 'after', 'accuracy before', 'after'];
  const rows = r.layers.map((l) => [
    l.layer,
    `${l.legibleUnits.length}/${l.width}`,
    f3(l.legibleBefore),
    f3(l.legibleAfter),
    f3(l.freeBefore),
    f3(l.freeAfter),
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
