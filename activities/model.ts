// The steps that train and evaluate the network: prepare the corpus, train the base model, evaluate the task (with
// intervals and paired differences), align the legible neurons, retrain the layers above a frozen one, and ablate
// groups of neurons at the end.
import { createHash } from 'node:crypto';
import { buildCorpus, corpusToBundle } from '../data/corpus';
import { InvalidInputError } from '../data/errors';
import { corpusSourceDigest } from '../data/sources';
import { Rng } from '../data/rng';
import { readSimulations } from '../llm/artifacts';
import { SIMULATION_MAX } from '../llm/types';
import { substitutedActivations } from '../interp/faithfulness';
import { initBackend } from '../nn/backend';
import { checkExportFits, readExportedModel } from '../nn/exported-model';
import { createModel, examplesFor, modelFromBundle, modelSpec, predictedTokens, type Intervention } from '../nn/language-model';
import { recordLayer, tokenLosses, type TaskMetrics } from '../nn/train';
import type { Pipeline } from '../pipelines/schema';
import { BOOTSTRAP_SEED, mapEstimate, perSentence, ratioEstimate, sentenceLengths, type Estimate, type Interval } from '../stats/bootstrap';
import type { ArtifactRef } from '../store/artifacts';
import type { ModelResult, StepContext } from './context';

/** The task metric on held-out text with 95% intervals (bootstrap over held-out sentences). */
export interface TaskFigures extends TaskMetrics {
  sentences: number;
  ci95: { loss: Interval; perplexity: Interval; accuracy: Interval };
}

/** What holding a group of neurons fixed costs: the held-out loss increase (nats per token), paired over sentences. */
export interface AblationFigures {
  units: number;
  /** Each neuron held at zero. */
  zero: Estimate;
  /** Each neuron held at its mean activation on the held-out text. */
  mean: Estimate;
}

/** Random subsets of the legible group's size whose ablation is the baseline for the legible and free groups. */
const RANDOM_SUBSETS = 5;

export function modelSteps({ store, once, loadCorpus, loadModel, saveModel, trainResumably, examplesOf }: StepContext) {
  return {
    /** Samples the corpus, builds the vocabulary and the splits. */
    async prepareCorpus(input: { pipeline: Pipeline }) {
      const p = input.pipeline;
      // Keyed by what the corpus depends on (your own files by their content), so the points of a sweep share it.
      const source = p.corpus.source === 'files' ? { files: corpusSourceDigest(p.corpus) } : {};
      const key = { seed: p.seed, corpus: p.corpus, ...source, vocabularySize: p.model.vocabularySize, splits: [p.interpretability.explanationSequences, p.interpretability.scoringSequences, p.alignment.sequences] };
      return once('prepareCorpus', key, async () => {
        const corpus = buildCorpus(input.pipeline);
        const { meta } = corpus;
        return {
          corpus: await store.putBundle('corpus', corpusToBundle(corpus)),
          sentences: meta.sentences,
          tokens: meta.tokens,
          vocabularySize: meta.vocabulary.length,
          splitSizes: meta.splitSizes,
          text: { source: meta.source, tokenizer: meta.tokenizer, segment: meta.segment, heldOutUnknownShare: meta.heldOutUnknownShare! },
        };
      });
    },

    /**
     * Trains the base model on the original objective; with model.from, loads the exported model there instead (no
     * training), after checking that its kind, sizes, tokenizer and vocabulary are this pipeline's.
     */
    async trainBaseModel(input: { pipeline: Pipeline; corpus: ArtifactRef }): Promise<ModelResult> {
      const p = input.pipeline;
      const from = p.model.from ? readExportedModel(p.model.from) : undefined;
      // Keyed by what the base model depends on (an exported model by its bytes), so the points of a sweep share it.
      const key = { seed: p.seed, model: p.model, training: p.training, corpus: input.corpus, ...(from ? { from: createHash('sha256').update(from.modelBytes).digest('hex'), config: from.config } : {}) };
      return once('trainBaseModel', key, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const spec = modelSpec(p.model, corpus.meta.vocabulary.length);
        if (from) {
          checkExportFits(from.config, p.model.from!, spec, corpus.meta.tokenizer, corpus.meta.vocabulary);
          // The pipeline decides afresh what it freezes: the exported frozen depths are a record, not a constraint.
          const model = modelFromBundle({ meta: { spec, frozenThrough: -1 }, arrays: from.bundle.arrays });
          try {
            return { ...(await saveModel(model, { seconds: 0, steps: 0, samplesPerSecond: 0, taskLoss: NaN }, backend)), resumedFrom: null };
          } finally {
            model.dispose();
          }
        }
        const initial = createModel(spec, p.seed);
        const { model, run, resumedFrom } = await trainResumably(initial, examplesFor(spec, corpus, corpus.splits.train), { ...p.training, seed: p.seed });
        try {
          return { ...(await saveModel(model, run, backend)), resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * The task metric on held-out text: next-token loss, perplexity and accuracy, each with a 95% interval over
     * held-out sentences. With `against`, also this model's loss minus each named model's on the same sentences
     * (nats per token, paired bootstrap): negative means this model predicts better.
     */
    async evaluateTask(input: { corpus: ArtifactRef; model: ArtifactRef; against?: Record<string, ArtifactRef> }): Promise<{ metrics: TaskFigures; differences?: Record<string, Estimate>; backend: string; reused: boolean }> {
      return once('evaluateTask', input, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const model = await loadModel(input.model);
        const data = examplesOf(corpus, model.spec);
        let own: Awaited<ReturnType<typeof tokenLosses>>;
        try {
          own = await tokenLosses(model, data);
        } finally {
          model.dispose();
        }
        /** Another model's per-token losses on the same examples (it must read them alike: same kind and context). */
        const lossesOf = async (ref: ArtifactRef) => {
          const other = await loadModel(ref);
          try {
            if (other.spec.kind !== model.spec.kind || other.inputLength !== model.inputLength)
              throw new InvalidInputError(`evaluateTask: model ${ref.sha256.slice(0, 12)} (${other.spec.kind ?? 'mlp'}, context ${other.inputLength}) reads its examples unlike model ${input.model.sha256.slice(0, 12)} (${model.spec.kind ?? 'mlp'}, context ${model.inputLength})`);
            return (await tokenLosses(other, data)).losses;
          } finally {
            other.dispose();
          }
        };
        const tokens = sentenceLengths(data.starts);
        const loss = ratioEstimate(perSentence(own.losses, data.starts), tokens, BOOTSTRAP_SEED);
        const accuracy = ratioEstimate(perSentence(own.correct, data.starts), tokens, BOOTSTRAP_SEED);
        const perplexity = mapEstimate(loss, Math.exp);
        const metrics: TaskFigures = {
          tokens: own.losses.length,
          sentences: data.starts.length - 1,
          loss: loss.value,
          perplexity: perplexity.value,
          accuracy: accuracy.value,
          ci95: { loss: loss.ci95, perplexity: perplexity.ci95, accuracy: accuracy.ci95 },
        };
        if (!input.against) return { metrics, backend };
        const differences: Record<string, Estimate> = {};
        for (const [name, ref] of Object.entries(input.against)) {
          const other = await lossesOf(ref);
          differences[name] = ratioEstimate(perSentence(own.losses.map((l, k) => l - other[k]!), data.starts), tokens, BOOTSTRAP_SEED);
        }
        return { metrics, differences, backend };
      });
    },

    /**
     * How much the task leans on a layer's legible and on its free neurons: the held-out loss increase with each
     * group held at zero and at its neurons' mean activations on the held-out text, paired over sentences (95%
     * intervals), and the same for random subsets of the legible group's size (the baseline a group is compared
     * with). ReLU neurons are never negative, so zeroing moves dense neurons further from their usual values than
     * sparse ones: mean ablation is the fairer figure. The zero-ablation losses keep their earlier names
     * (`lossWithoutLegible`, `lossWithoutFree`) for runs started before mean ablation existed.
     */
    async ablateNeurons(input: { corpus: ArtifactRef; model: ArtifactRef; layer: string; legibleUnits: number[]; seed?: number }) {
      return once('ablateNeurons', input, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const model = await loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const width = model.spec.hidden[depth]!.width;
          const legible = new Set(input.legibleUnits);
          const free = Array.from({ length: width }, (_, u) => u).filter((u) => !legible.has(u));
          const data = examplesOf(corpus, model.spec);
          const activations = await recordLayer(model, data, depth);
          const means = Array.from({ length: width }, (_, u) => {
            let sum = 0;
            for (let k = u; k < activations.length; k += width) sum += activations[k]!;
            return sum / (activations.length / width);
          });
          const clean = (await tokenLosses(model, data)).losses;
          const tokens = sentenceLengths(data.starts);
          const increase = async (ablations: Intervention[]) => {
            const sum = new Float64Array(clean.length);
            for (const a of ablations) {
              (await tokenLosses(model, data, [a])).losses.forEach((l, k) => (sum[k] += l - clean[k]!));
            }
            return ratioEstimate(perSentence(sum.map((x) => x / ablations.length), data.starts), tokens, BOOTSTRAP_SEED);
          };
          const figures = async (subsets: number[][]): Promise<AblationFigures> => ({
            units: subsets[0]?.length ?? 0,
            zero: await increase(subsets.map((units) => ({ depth, units }))),
            mean: await increase(subsets.map((units) => ({ depth, units, values: units.map((u) => means[u]!) }))),
          });
          const rng = new Rng((input.seed ?? 0) * 7907 + depth);
          const everyUnit = Array.from({ length: width }, (_, u) => u);
          const randomSubsets = Array.from({ length: RANDOM_SUBSETS }, () => rng.sample(everyUnit, input.legibleUnits.length));
          const groups = { legible: await figures([input.legibleUnits]), free: await figures([free]), random: await figures(randomSubsets) };
          const loss = ratioEstimate(perSentence(clean, data.starts), tokens, BOOTSTRAP_SEED);
          return {
            loss: loss.value,
            cleanLoss: loss,
            lossWithoutLegible: loss.value + groups.legible.zero.value,
            lossWithoutFree: loss.value + groups.free.zero.value,
            groups,
            backend,
          };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Trains the layer's legible neurons towards the simulated activations of their labels (scaled to each neuron's
     * own activation level), together with the task loss. Free neurons take no part in the alignment loss.
     */
    async alignLegibleNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; model: ArtifactRef; layer: string; legibleUnits: number[]; simulations: ArtifactRef[] }): Promise<ModelResult & { alignLoss: number; alignedUnits: number[] }> {
      const { pipeline: p, ...rest } = input;
      // Keyed by what the result depends on, so that the matched controls (no legible neurons) of a sweep's points
      // are trained once.
      const { sequences, epochs, learningRate } = p.alignment;
      const settings = { seed: p.seed, batchSize: p.training.batchSize, alignment: input.legibleUnits.length > 0 ? p.alignment : { sequences, epochs, learningRate, weight: 0 } };
      return once('alignLegibleNeurons', { ...rest, settings }, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const initial = await loadModel(input.model);
        const depth = initial.depthOf(input.layer);
        const width = initial.spec.hidden[depth]!.width;
        const examples = examplesFor(initial.spec, corpus, corpus.splits.align);
        const simulated = await readSimulations(store, input.simulations, predictedTokens(examples));
        const missing = input.legibleUnits.filter((u) => !simulated.has(u));
        if (missing.length > 0) {
          initial.dispose();
          throw new InvalidInputError(`alignLegibleNeurons: no simulation on the align split for units ${missing.join(', ')}`);
        }
        // Targets come from the model as it was before alignment, in every attempt.
        const { targets, weights } = alignmentTargets(await recordLayer(initial, examples, depth), width, input.legibleUnits, simulated, p.alignment.offWeight ?? 1);
        const { model, run, resumedFrom } = await trainResumably(initial, examplesFor(initial.spec, corpus, corpus.splits.train), {
          epochs: p.alignment.epochs,
          batchSize: p.training.batchSize,
          learningRate: p.alignment.learningRate,
          seed: p.seed + 101 * (depth + 1),
          alignment: { depth, examples, targets, weights, weight: p.alignment.weight },
        });
        try {
          const alignedUnits = Array.from({ length: width }, (_, u) => u).filter((u) => {
            for (let k = u; k < weights.length; k += width) if (weights[k]! > 0) return true;
            return false;
          });
          return { ...(await saveModel(model, run, backend)), alignLoss: run.alignLoss, alignedUnits, resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Freezes the layer (and everything below it) and retrains the layers above on the original objective, on the
     * training text. With `substitute` (alignment.mode substitute), on the align text instead, with the legible
     * neurons replaced by their labels' simulations there (each mapped by a least-squares line fitted on the same
     * text): the layers above learn to run on the labels. The control passes no legible units: same text, no
     * replacement.
     */
    async retrainLayersAbove(input: { pipeline: Pipeline; corpus: ArtifactRef; model: ArtifactRef; layer: string; substitute?: { legibleUnits: number[]; simulations: ArtifactRef[] } }): Promise<ModelResult> {
      const { pipeline: p, ...rest } = input;
      return once('retrainLayersAbove', { ...rest, settings: { seed: p.seed, batchSize: p.training.batchSize, retraining: p.retraining } }, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const frozen = await loadModel(input.model);
        const depth = frozen.depthOf(input.layer);
        frozen.freezeThrough(depth);
        if (p.retraining.epochs === 0) {
          try {
            return { ...(await saveModel(frozen, { seconds: 0, steps: 0, samplesPerSecond: 0, taskLoss: NaN }, backend)), resumedFrom: null };
          } finally {
            frozen.dispose();
          }
        }
        const examples = examplesFor(frozen.spec, corpus, input.substitute ? corpus.splits.align : corpus.splits.train);
        const units = input.substitute?.legibleUnits ?? [];
        let substitution: { depth: number; units: number[]; rows: Float32Array } | undefined;
        if (input.substitute && units.length > 0) {
          // The lines are fitted on the align text itself, where the simulations are.
          const simulations = await readSimulations(store, input.substitute.simulations, predictedTokens(examples));
          const fit = { activations: await recordLayer(frozen, examples, depth), width: frozen.spec.hidden[depth]!.width, simulations };
          try {
            substitution = { depth, units, rows: substitutedActivations(units, fit, simulations, predictedTokens(examples)) };
          } catch (err) {
            frozen.dispose();
            throw err;
          }
        }
        const { model, run, resumedFrom } = await trainResumably(frozen, examples, {
          epochs: p.retraining.epochs,
          batchSize: p.training.batchSize,
          learningRate: p.retraining.learningRate,
          seed: p.seed + 211 * (depth + 1),
          ...(substitution ? { substitution } : {}),
        });
        try {
          return { ...(await saveModel(model, run, backend)), resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },
  };
}

/**
 * Alignment targets and weights for one layer on the align split. A legible neuron's target is its simulation
 * (0 to 10) scaled to the neuron's own active level; its errors are weighted so that tokens where the label says
 * "on" count as much in all as those where it says "off" (most tokens are "off"; the "off" side is then multiplied
 * by `offWeightFactor`, alignment.offWeight), and divided by the level² and the
 * number of legible neurons so that each neuron counts alike. Free neurons get weight 0: they are not aligned.
 */
function alignmentTargets(current: Float32Array, width: number, legibleUnits: number[], simulated: Map<number, Float32Array>, offWeightFactor: number) {
  const n = current.length / width;
  const targets = new Float32Array(n * width);
  const weights = new Float32Array(n * width);
  legibleUnits.forEach((unit) => {
    const level = activeLevel(current, width, unit);
    const column = simulated.get(unit)!;
    const sim = (k: number) => column[k]!;
    let on = 0;
    for (let k = 0; k < n; k++) if (sim(k) > 0) on++;
    const scale = 1 / (level * level * legibleUnits.length);
    const onWeight = on > 0 && on < n ? (0.5 * n) / on : 1;
    const offWeight = (on > 0 && on < n ? (0.5 * n) / (n - on) : 1) * offWeightFactor;
    for (let k = 0; k < n; k++) {
      targets[k * width + unit] = (sim(k) / SIMULATION_MAX) * level;
      weights[k * width + unit] = (sim(k) > 0 ? onWeight : offWeight) * scale;
    }
  });
  return { targets, weights };
}

/** Mean activation of a unit where it is at least half its maximum: the level a label's "on" maps to. */
function activeLevel(acts: Float32Array, width: number, unit: number): number {
  let max = 0;
  for (let k = unit; k < acts.length; k += width) max = Math.max(max, acts[k]!);
  if (max <= 0) return 1;
  let sum = 0;
  let n = 0;
  for (let k = unit; k < acts.length; k += width) {
    if (acts[k]! >= max / 2) {
      sum += acts[k]!;
      n++;
    }
  }
  return sum / n;
}
