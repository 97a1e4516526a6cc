// `legible export`: a finished run's final model and its labels, in formats other tools read. The model goes out as
// model.safetensors and config.json (nn/exported-model.ts); the labels and scores as explanations.jsonl, one JSON
// line per unit of every processed layer.
import { join } from 'node:path';
import { corpusFromBundle, type CorpusMeta } from '../data/corpus';
import { gpt2TokenId } from '../data/tokenizers';
import { readLabels } from '../llm/artifacts';
import { writeExportedModel, type ExportConfig, type ExportedLayer } from '../nn/exported-model';
import { modelFromBundle, type ModelMeta } from '../nn/language-model';
import type { ArtifactStore } from '../store/artifacts';
import { writeAtomically } from '../store/directory';
import type { PipelineReport } from '../workflows/pipeline';

export const EXPLANATIONS_FILE = 'explanations.jsonl';

/** One line of explanations.jsonl. */
export interface ExportedExplanation {
  layer: string;
  index: number;
  group: 'legible' | 'free';
  /** The label the neuron now follows: for a legible neuron the one it was aligned to, for a free one its own. */
  label: string;
  /** The neuron's own label, made from its activations before alignment. */
  ownLabel: string;
  /**
   * Correlation of the label's simulation with the neuron on the held-out score text (all tokens), before alignment
   * (own label) and after retraining (the label above); null where it is undefined (a constant neuron or simulation).
   */
  scoreBefore: number | null;
  scoreAfter: number | null;
  /** In dictionary mode: the sparse-autoencoder feature whose label a legible neuron was aligned to. */
  dictionaryFeature?: { feature: number; correlation: number };
}

/**
 * Writes a run's final model (model.safetensors, config.json) and explanations.jsonl into `dir`. Returns the
 * config and how many explanation lines were written. Reads every artifact from `store`, the store that ran it.
 */
export async function exportRun(store: ArtifactStore, report: PipelineReport, workflowId: string, dir: string): Promise<{ config: ExportConfig; explanations: number }> {
  const { meta: corpus } = corpusFromBundle(await store.getBundle<CorpusMeta>(report.corpus.ref));
  const model = modelFromBundle(await store.getBundle<ModelMeta>(report.finalModel));
  const explanations: ExportedExplanation[] = [];
  try {
    const layers: ExportedLayer[] = [];
    for (const [depth, h] of model.spec.hidden.entries()) {
      const processed = report.layers.find((l) => l.layer === h.name);
      const legible = new Set(processed?.legibleUnits ?? []);
      const all = Array.from({ length: h.width }, (_, u) => u);
      if (processed) explanations.push(...(await layerExplanations(store, processed, legible)));
      layers.push({ name: h.name, depth, width: h.width, processed: !!processed, legible: [...legible].sort((a, b) => a - b), free: all.filter((u) => !legible.has(u)) });
    }
    const { tokenizer } = corpus;
    const config = writeExportedModel(dir, model, {
      tokenizer,
      vocabulary: corpus.vocabulary,
      ...(tokenizer === 'gpt2' ? { gpt2Ids: corpus.vocabulary.map((t) => gpt2TokenId(t) ?? null) } : {}),
      layers,
      source: { run: workflowId, pipeline: report.pipeline, pipelineHash: report.pipelineHash },
    });
    writeAtomically(join(dir, EXPLANATIONS_FILE), Buffer.from(explanations.map((e) => JSON.stringify(e)).join('\n') + '\n'));
    return { config, explanations: explanations.length };
  } finally {
    model.dispose();
  }
}

async function layerExplanations(store: ArtifactStore, l: PipelineReport['layers'][number], legible: Set<number>): Promise<ExportedExplanation[]> {
  const own = await readLabels(store, l.labels);
  const aligned = await readLabels(store, l.alignedLabels);
  const before = new Map(l.scoresBefore.map((s) => [s.unit, s.allTokens]));
  const after = new Map(l.scoresAfter.map((s) => [s.unit, s.allTokens]));
  const features = new Map((l.dictionary?.assignments ?? []).map((a) => [a.neuron, { feature: a.feature, correlation: a.correlation }]));
  return Array.from({ length: l.width }, (_, index) => {
    const group = legible.has(index) ? 'legible' : 'free';
    const ownLabel = own.get(index) ?? '';
    const feature = group === 'legible' ? features.get(index) : undefined;
    return {
      layer: l.layer,
      index,
      group,
      label: group === 'legible' ? (aligned.get(index) ?? ownLabel) : ownLabel,
      ownLabel,
      scoreBefore: finite(before.get(index)),
      scoreAfter: finite(after.get(index)),
      ...(feature ? { dictionaryFeature: feature } : {}),
    };
  });
}

const finite = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);
