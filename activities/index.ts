// Every step kind of a pipeline, one activity each: thin wrappers that load their inputs from the artifact store,
// call the plain modules (data/, nn/, interp/, llm/), store what they make and return small JSON. Results are
// memoised by their inputs, so a retried, resumed or replayed step never pays twice. Long steps heartbeat.
import { ApplicationFailure, Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';
import munkres from 'munkres';
import { buildCorpus, corpusFromBundle, corpusToBundle, nextWordExamples, sentence, splitStarts, type Corpus, type CorpusMeta, type SplitName } from '../data/corpus';
import { Rng } from '../data/rng';
import { activationsOnSplit, unitRecords, type LayerActivations } from '../interp/records';
import { groupAllTokens, groupScores, mean, pearson, scoreUnit, sentenceSums, type GroupScores, type UnitScore } from '../interp/scoring';
import { mapEstimate, perSentence, ratioEstimate, type Estimate, type Interval } from '../stats/bootstrap';
import { explainerFor, simulatorFor } from '../llm/provider';
import { readExplanations, readLabels, readSimulations } from '../llm/artifacts';
import { noUsage, SIMULATION_MAX, type Explanation, type IncomingNeuron, type Usage } from '../llm/types';
import { initBackend } from '../nn/backend';
import { trainDictionary, type DictionaryCheckpoint } from '../nn/dictionary';
import type { OptimizerState } from '../nn/optimizer-state';
import { NextWordModel, type ModelMeta } from '../nn/model';
import { recordLayer, tokenLosses, train, type Examples, type TaskMetrics, type TrainCheckpoint, type TrainOptions } from '../nn/train';
import type { Ablation } from '../nn/model';
import type { DictionarySettings, Pipeline, StepKind } from '../pipelines/schema';
import type { ArtifactRef, ArtifactStore, Bundle } from '../store/artifacts';

export interface ModelResult {
  /** Where a retried attempt went on from (the last checkpoint of the attempt before it); null when it started afresh. */
  resumedFrom?: { epoch: number; step: number } | null;
  model: ArtifactRef;
  backend: string;
  seconds: number;
  /** Optimiser steps taken (the matched control takes as many as the run it controls). */
  steps: number;
  samplesPerSecond: number;
  taskLoss: number;
  /** sha256 of each hidden layer's weights and biases: shows which layers a step changed. */
  layerHashes: Record<string, string>;
  /** True when the result was found in the store and nothing was recomputed. */
  reused: boolean;
}

export interface ScoreSummary {
  scores: UnitScore[];
  meanAllTokens: number;
  meanTopAndRandom: number;
  meanRandomOnly: number;
  /** Per named group of units: means with 95% intervals; with a baseline, the paired all-tokens gain over it. */
  groups?: Record<string, GroupScores & { gain?: Estimate }>;
}

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

/** One seed for every bootstrap over held-out sentences, so all task figures of a run resample the same sentences. */
const BOOTSTRAP_SEED = 1;
/** Random subsets of the legible group's size whose ablation is the baseline for the legible and free groups. */
const RANDOM_SUBSETS = 5;

export function createActivities(store: ArtifactStore) {
  const code = codeFingerprint();

  /**
   * Runs a step once per distinct key (every input the result depends on) and version of the code; a second call
   * with the same key returns the stored result.
   */
  async function once<R extends object>(kind: StepKind, key: unknown, compute: () => Promise<R>): Promise<R & { reused: boolean }> {
    try {
      // While another worker computes the same result, heartbeat (keeping an earlier attempt's checkpoint named).
      const { result, reused } = await store.memoise(kind, { code, input: key }, compute, () => beat({ waitingFor: kind, checkpoint: lastCheckpoint() }));
      // A reused result cost nothing this time: its language-model calls count as answered from the cache.
      if (reused && 'usage' in result) {
        const u = result.usage as Usage;
        return { ...result, usage: { ...noUsage(), cachedCalls: u.calls + u.cachedCalls }, reused };
      }
      return { ...result, reused };
    } catch (err) {
      throw asFailure(err);
    }
  }

  const loadCorpus = (ref: ArtifactRef): Corpus => corpusFromBundle(store.getBundle<CorpusMeta>(ref));
  const loadModel = (ref: ArtifactRef): NextWordModel => NextWordModel.fromBundle(store.getBundle<ModelMeta>(ref));

  function saveModel(model: NextWordModel, run: { seconds: number; steps: number; samplesPerSecond: number; taskLoss: number }, backend: string) {
    const bundle = model.toBundle();
    const layerHashes = Object.fromEntries(
      model.spec.hidden.map((h) => [h.name, hashArrays(bundle.arrays[`${h.name}.w`]!, bundle.arrays[`${h.name}.b`]!)]),
    );
    return { model: store.putBundle('model', bundle), backend, layerHashes, seconds: run.seconds, steps: run.steps, samplesPerSecond: run.samplesPerSecond, taskLoss: run.taskLoss };
  }

  /**
   * Trains with a checkpoint (weights, optimizer state, batch positions) stored at the end of every epoch and named
   * in every heartbeat. An attempt whose last heartbeat named a checkpoint (the worker before it died or timed out)
   * goes on from there instead of from epoch 0, and gets the same result as an uninterrupted run.
   */
  async function trainResumably(initial: NextWordModel, data: Examples, o: Omit<TrainOptions, 'trainable' | 'onProgress' | 'onCheckpoint' | 'resumeFrom'>) {
    let checkpoint = lastCheckpoint();
    let model = initial;
    let resumeFrom: TrainCheckpoint | undefined;
    if (checkpoint) {
      const c = getCheckpoint<Omit<TrainCheckpoint, 'optimizer'>, ModelMeta>(checkpoint);
      model = NextWordModel.fromBundle(c.weights);
      initial.dispose();
      resumeFrom = { ...c.meta, optimizer: c.optimizer };
    }
    try {
      const run = await train(model, data, {
        ...o,
        trainable: model.trainableVariables(),
        resumeFrom,
        onProgress: (p) => beat({ ...p, tensors: tf.memory().numTensors, ...(checkpoint ? { checkpoint } : {}) }),
        onCheckpoint: (c) => {
          const { optimizer, ...train } = c;
          checkpoint = putCheckpoint(train, model.toBundle(), optimizer);
          beat({ epoch: c.epoch, epochs: o.epochs, step: c.step, checkpoint });
        },
      });
      return { model, run, resumedFrom: resumeFrom ? { epoch: resumeFrom.epoch, step: resumeFrom.step } : null };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /** A checkpoint: the run's state (JSON), the weights being trained (a bundle) and the optimizer's state. */
  function putCheckpoint(meta: object, weights: Bundle, optimizer: OptimizerState): ArtifactRef {
    const arrays: Bundle['arrays'] = Object.fromEntries(Object.entries(weights.arrays).map(([k, v]) => [`weights/${k}`, v]));
    optimizer.values.forEach((a, i) => (arrays[`optimizer/${i}`] = a));
    return store.putBundle('checkpoint', { meta: { meta, weightsMeta: weights.meta, optimizerShapes: optimizer.shapes }, arrays });
  }

  function getCheckpoint<M, W>(ref: ArtifactRef): { meta: M; weights: Bundle<W>; optimizer: OptimizerState } {
    const b = store.getBundle<{ meta: M; weightsMeta: W; optimizerShapes: number[][] }>(ref);
    const weights = Object.fromEntries(Object.entries(b.arrays).filter(([k]) => k.startsWith('weights/')).map(([k, v]) => [k.slice('weights/'.length), v]));
    const shapes = b.meta.optimizerShapes;
    return { meta: b.meta.meta, weights: { meta: b.meta.weightsMeta, arrays: weights }, optimizer: { values: shapes.map((_, i) => b.arrays[`optimizer/${i}`] as Float32Array), shapes } };
  }

  /** The activations of one layer on one split, with the words of every token. */
  function layerActivations(corpus: Corpus, records: ArtifactRef): LayerActivations {
    const b = store.getBundle<{ width: number; split: SplitName }>(records);
    return activationsOnSplit(corpus, b.meta.split, b.meta.width, b.arrays.activations as Float32Array);
  }

  /** For each neuron of `layer`, its strongest incoming neurons of the layer below, by absolute weight, with labels. */
  function incomingNeurons(o: { model: ArtifactRef; layer: string; labelsBelow: ArtifactRef[]; topN: number }): (unit: number) => IncomingNeuron[] {
    const model = loadModel(o.model);
    try {
      const depth = model.depthOf(o.layer);
      const { w } = model.layerWeights(depth);
      const width = model.spec.hidden[depth]!.width;
      const below = w.length / width;
      const labels = readLabels(store, o.labelsBelow);
      return (unit) =>
        Array.from({ length: below }, (_, i) => ({ unit: i, weight: w[i * width + unit]! }))
          .filter((n) => labels.has(n.unit))
          .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.unit - b.unit)
          .slice(0, o.topN)
          .map((n) => ({ ...n, weight: Math.round(n.weight * 1000) / 1000, label: labels.get(n.unit)! }));
    } finally {
      model.dispose();
    }
  }

  /** The held-out text as next-word examples, with each sentence's first example. */
  function heldOut(corpus: Corpus, contextWords: number): Examples & { starts: Int32Array } {
    return { ...nextWordExamples(corpus, corpus.splits.heldOut, contextWords), starts: splitStarts(corpus, corpus.splits.heldOut) };
  }

  function sentencesOf(corpus: Corpus, split: SplitName): string[][] {
    return [...corpus.splits[split]].map((s) => [...sentence(corpus, s)].map((t) => corpus.meta.vocabulary[t]!));
  }

  return {
    /** Samples the corpus, builds the vocabulary and the splits. */
    async prepareCorpus(input: { pipeline: Pipeline }) {
      const p = input.pipeline;
      // Keyed by what the corpus depends on, so the points of a sweep share it.
      const key = { seed: p.seed, corpus: p.corpus, vocabularySize: p.model.vocabularySize, splits: [p.interpretability.explanationSequences, p.interpretability.scoringSequences, p.alignment.sequences] };
      return once('prepareCorpus', key, async () => {
        const corpus = buildCorpus(input.pipeline);
        return { corpus: store.putBundle('corpus', corpusToBundle(corpus)), sentences: corpus.meta.sentences, tokens: corpus.meta.tokens, vocabularySize: corpus.meta.vocabulary.length, splitSizes: corpus.meta.splitSizes };
      });
    },

    /** Trains the base model on the original objective. */
    async trainBaseModel(input: { pipeline: Pipeline; corpus: ArtifactRef }): Promise<ModelResult> {
      const p = input.pipeline;
      // Keyed by what the base model depends on, so the points of a sweep share it.
      return once('trainBaseModel', { seed: p.seed, model: p.model, training: p.training, corpus: input.corpus }, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const initial = NextWordModel.create(
          { vocabularySize: corpus.meta.vocabulary.length, contextWords: p.model.contextWords, embeddingSize: p.model.embeddingSize, hidden: p.model.hidden },
          p.seed,
        );
        const { model, run, resumedFrom } = await trainResumably(initial, nextWordExamples(corpus, corpus.splits.train, p.model.contextWords), { ...p.training, seed: p.seed });
        try {
          return { ...saveModel(model, run, backend), resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * The task metric on held-out text: next-word loss, perplexity and accuracy, each with a 95% interval over
     * held-out sentences. With `against`, also this model's loss minus each named model's on the same sentences
     * (nats per token, paired bootstrap): negative means this model predicts better.
     */
    async evaluateTask(input: { corpus: ArtifactRef; model: ArtifactRef; against?: Record<string, ArtifactRef> }): Promise<{ metrics: TaskFigures; differences?: Record<string, Estimate>; backend: string; reused: boolean }> {
      return once('evaluateTask', input, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const lossesOf = (ref: ArtifactRef) => {
          const model = loadModel(ref);
          try {
            return tokenLosses(model, heldOut(corpus, model.spec.contextWords));
          } finally {
            model.dispose();
          }
        };
        const model = loadModel(input.model);
        const data = heldOut(corpus, model.spec.contextWords);
        model.dispose();
        const own = lossesOf(input.model);
        const tokens = perSentence(new Float32Array(own.losses.length).fill(1), data.starts);
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
        const differences = Object.fromEntries(
          Object.entries(input.against).map(([name, ref]) => {
            const other = lossesOf(ref).losses;
            return [name, ratioEstimate(perSentence(own.losses.map((l, k) => l - other[k]!), data.starts), tokens, BOOTSTRAP_SEED)];
          }),
        );
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
        const corpus = loadCorpus(input.corpus);
        const model = loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const width = model.spec.hidden[depth]!.width;
          const legible = new Set(input.legibleUnits);
          const free = Array.from({ length: width }, (_, u) => u).filter((u) => !legible.has(u));
          const data = heldOut(corpus, model.spec.contextWords);
          const activations = recordLayer(model, data.windows, depth);
          const means = Array.from({ length: width }, (_, u) => {
            let sum = 0;
            for (let k = u; k < activations.length; k += width) sum += activations[k]!;
            return sum / (activations.length / width);
          });
          const clean = tokenLosses(model, data).losses;
          const tokens = perSentence(new Float32Array(clean.length).fill(1), data.starts);
          const increase = (ablations: Ablation[]) => {
            const sum = new Float64Array(clean.length);
            for (const a of ablations) tokenLosses(model, data, a).losses.forEach((l, k) => (sum[k] += l - clean[k]!));
            return ratioEstimate(perSentence(sum.map((x) => x / ablations.length), data.starts), tokens, BOOTSTRAP_SEED);
          };
          const figures = (subsets: number[][]): AblationFigures => ({
            units: subsets[0]?.length ?? 0,
            zero: increase(subsets.map((units) => ({ depth, units }))),
            mean: increase(subsets.map((units) => ({ depth, units, values: units.map((u) => means[u]!) }))),
          });
          const rng = new Rng((input.seed ?? 0) * 7907 + depth);
          const everyUnit = Array.from({ length: width }, (_, u) => u);
          const randomSubsets = Array.from({ length: RANDOM_SUBSETS }, () => rng.sample(everyUnit, input.legibleUnits.length));
          const groups = { legible: figures([input.legibleUnits]), free: figures([free]), random: figures(randomSubsets) };
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

    /** Records one layer's activations on each named split, one value per neuron and token. */
    async recordActivations(input: { corpus: ArtifactRef; model: ArtifactRef; layer: string; splits: SplitName[] }) {
      return once('recordActivations', input, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const model = loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const width = model.spec.hidden[depth]!.width;
          const records: Partial<Record<SplitName, ArtifactRef>> = {};
          for (const split of input.splits) {
            const { windows } = nextWordExamples(corpus, corpus.splits[split], model.spec.contextWords);
            const activations = recordLayer(model, windows, depth);
            records[split] = store.putBundle('activations', { meta: { layer: input.layer, width, split }, arrays: { activations } });
          }
          return { records, backend };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Learns a sparse dictionary on a layer's activations (the given training records), and writes the feature
     * activations of the splits to encode in the same format as recorded neuron activations.
     */
    async learnDictionary(input: {
      pipeline: Pipeline;
      layer: string;
      settings: DictionarySettings;
      train: ArtifactRef[];
      encode: Partial<Record<SplitName, ArtifactRef>>;
    }) {
      return once('learnDictionary', input, async () => {
        const backend = await initBackend();
        const parts = input.train.map((ref) => store.getBundle<{ width: number }>(ref));
        const width = parts[0]!.meta.width;
        const x = concatFloat32(parts.map((b) => b.arrays.activations as Float32Array));
        // Each epoch ends in a checkpoint named in the heartbeat; a retried attempt goes on from the last one.
        const last = lastCheckpoint();
        let checkpoint = last;
        const saved = last ? getCheckpoint<Omit<DictionaryCheckpoint, 'optimizer' | 'sae'>, DictionaryCheckpoint['sae']['meta']>(last) : undefined;
        const resumeFrom = saved ? { ...saved.meta, sae: saved.weights, optimizer: saved.optimizer } : undefined;
        const { sae, stats, resampled } = await trainDictionary(x, width, input.settings, input.pipeline.seed, (e) => beat({ ...e, ...(checkpoint ? { checkpoint } : {}) }), {
          ...(resumeFrom ? { resumeFrom } : {}),
          onCheckpoint: (c) => {
            const { sae, optimizer, ...rest } = c;
            checkpoint = putCheckpoint(rest, sae, optimizer);
            beat({ epoch: c.epoch, epochs: input.settings.epochs, checkpoint });
          },
        });
        try {
          const features = sae.encodeAll(x);
          const liveFeatures = Array.from({ length: stats.features }, (_, f) => f).filter((f) => {
            for (let k = f; k < features.length; k += stats.features) if (features[k]! > 0) return true;
            return false;
          });
          const records: Partial<Record<SplitName, ArtifactRef>> = {};
          for (const [split, ref] of Object.entries(input.encode) as [SplitName, ArtifactRef][]) {
            const acts = store.getBundle<{ width: number }>(ref).arrays.activations as Float32Array;
            records[split] = store.putBundle('activations', { meta: { layer: `${input.layer}.features`, width: stats.features, split }, arrays: { activations: sae.encodeAll(acts) } });
          }
          return { dictionary: store.putBundle('dictionary', sae.toBundle()), records, stats, liveFeatures, resampled, backend, resumedFrom: resumeFrom ? { epoch: resumeFrom.epoch } : null };
        } finally {
          sae.dispose();
        }
      });
    },

    /**
     * Labels units of a layer (neurons, or dictionary features) from their top-activating and random examples; with
     * `incoming`, the explainer also sees each neuron's strongest incoming neurons from the layer below.
     */
    async explainNeurons(input: {
      pipeline: Pipeline;
      corpus: ArtifactRef;
      records: ArtifactRef;
      units: number[];
      incoming?: { model: ArtifactRef; layer: string; labelsBelow: ArtifactRef[]; topN: number };
    }) {
      return once('explainNeurons', input, async () => {
        const { interpretability: o, seed } = input.pipeline;
        const acts = layerActivations(loadCorpus(input.corpus), input.records);
        const usage = noUsage();
        const explainer = explainerFor(input.pipeline.explainer, { store, usage });
        const incoming = input.incoming ? incomingNeurons(input.incoming) : undefined;
        // Every few units the labels so far are stored and named in the heartbeat; a retried attempt keeps them.
        const last = lastCheckpoint();
        const explanations: Explanation[] = last ? store.getJson<Explanation[]>(last) : [];
        const resumedWith = explanations.length;
        let checkpoint = last;
        for (const unit of input.units.slice(explanations.length)) {
          const records = unitRecords(acts, unit, o.topExamples, o.randomExamples, seed);
          explanations.push(...(await explainer.explain([{ records, ...(incoming ? { incoming: incoming(unit) } : {}) }])));
          if (explanations.length % 8 === 0) checkpoint = store.putJson('labels', explanations);
          beat({ unitsExplained: explanations.length, units: input.units.length, ...(checkpoint ? { checkpoint } : {}) });
          await yieldToEventLoop();
        }
        return { labels: store.putJson('labels', explanations), units: explanations.length, explainer: explainer.name, examples: explanations.slice(0, 3), usage, resumedWithUnits: resumedWith };
      });
    },

    /** Predicts each listed unit's activations on a split from its label alone (0 to 10 per token). */
    async simulateNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; labels: ArtifactRef[]; split: SplitName; units: number[] }) {
      return once('simulateNeurons', input, async () => {
        const corpus = loadCorpus(input.corpus);
        const labels = readLabels(store, input.labels);
        const sentences = sentencesOf(corpus, input.split);
        const usage = noUsage();
        const simulator = simulatorFor(input.pipeline.simulator, { store, usage });
        const tokens = sentences.reduce((n, s) => n + s.length, 0);
        // Unit-major: unit j's simulation is values[j * tokens .. (j + 1) * tokens].
        const values = new Float32Array(tokens * input.units.length);
        for (const [j, unit] of input.units.entries()) {
          const label = labels.get(unit);
          if (label === undefined) throw new InvalidInputError(`unit ${unit} has no label in the labels given to simulateNeurons`);
          values.set((await simulator.simulate(label, sentences)).flat(), j * tokens);
          beat({ unitsSimulated: j + 1, units: input.units.length });
          await yieldToEventLoop();
        }
        const simulation = store.putBundle('simulation', { meta: { split: input.split, units: input.units, tokens }, arrays: { values } });
        return { simulation, simulator: simulator.name, usage };
      });
    },

    /**
     * Correlation of simulated and true activations per unit: over every token of the text (all tokens), and over
     * the unit's top-activating and random sentences (top-and-random, random-only). `sentencesFrom` names the
     * activations those sentences are chosen from (the same text before alignment), so that a score after
     * alignment uses the very tokens of the score before it. `groups` (name → units) get means with 95% intervals;
     * `baseline` (the same text's activations and simulations before) adds each group's paired all-tokens gain.
     */
    async scoreExplanations(input: {
      pipeline: Pipeline;
      corpus: ArtifactRef;
      records: ArtifactRef;
      simulations: ArtifactRef[];
      sentencesFrom?: ArtifactRef;
      groups?: Record<string, number[]>;
      baseline?: { records: ArtifactRef; simulations: ArtifactRef[] };
    }) {
      return once('scoreExplanations', input, async (): Promise<ScoreSummary> => {
        const { interpretability: o, seed } = input.pipeline;
        const corpus = loadCorpus(input.corpus);
        const truth = layerActivations(corpus, input.records);
        const chooseFrom = input.sentencesFrom ? layerActivations(corpus, input.sentencesFrom) : truth;
        const simulated = readSimulations(store, input.simulations, truth.words.length);
        // Runs started before scoringRandomExamples existed score on as many random sentences as the explainer saw.
        const random = o.scoringRandomExamples ?? o.randomExamples;
        const scores = [...simulated.entries()].map(([unit, column]) => roundScore(scoreUnit(truth, column, unit, { top: o.topExamples, random, seed, chooseFrom })));
        const summary: ScoreSummary = {
          scores,
          meanAllTokens: mean(scores.map((s) => s.allTokens)),
          meanTopAndRandom: mean(scores.map((s) => s.topAndRandom)),
          meanRandomOnly: mean(scores.map((s) => s.randomOnly)),
        };
        if (!input.groups) return summary;
        const base = input.baseline ? { truth: layerActivations(corpus, input.baseline.records), simulated: readSimulations(store, input.baseline.simulations, truth.words.length) } : undefined;
        const byUnit = new Map(scores.map((s) => [s.unit, s]));
        summary.groups = Object.fromEntries(
          Object.entries(input.groups).map(([name, units]) => {
            const missing = units.filter((u) => !byUnit.has(u));
            if (missing.length > 0) throw new InvalidInputError(`scoreExplanations: group ${name} names units without a simulation: ${missing.join(', ')}`);
            const sums = { sums: units.map((u) => sentenceSums(truth, simulated.get(u)!, u)) };
            const group = groupScores(units.map((u) => byUnit.get(u)!), sums, seed);
            if (!base) return [name, group];
            const before = { sums: units.map((u) => sentenceSums(base.truth, base.simulated.get(u)!, u)) };
            return [name, { ...group, gain: groupAllTokens(sums, seed, before) }];
          }),
        );
        return summary;
      });
    },

    /**
     * Makes the best-explained dictionary features legible. The `count` best-explained live features (positive
     * all-tokens score on the selection text) are matched one-to-one to neurons by an optimal assignment (the
     * Hungarian algorithm: Kuhn 1955, Munkres 1957; npm `munkres`) that maximises the summed correlation of feature
     * and neuron activations on held-out text (`neuronRecords` and `featureRecords`: the selection split); pairs
     * below `minCorrelation` are never made, so fewer neurons than `count` may become legible. A matched neuron
     * then carries its feature's label. Returns the layer's labels with those neurons' labels replaced.
     */
    async assignDictionaryFeatures(input: {
      neuronRecords: ArtifactRef;
      featureRecords: ArtifactRef;
      featureScores: UnitScore[];
      neuronLabels: ArtifactRef[];
      featureLabels: ArtifactRef[];
      count: number;
      minCorrelation?: number;
    }) {
      return once('assignDictionaryFeatures', input, async () => {
        const neurons = store.getBundle<{ width: number }>(input.neuronRecords);
        const features = store.getBundle<{ width: number }>(input.featureRecords);
        const column = (b: typeof neurons, u: number) => {
          const a = b.arrays.activations as Float32Array;
          return Float32Array.from({ length: a.length / b.meta.width }, (_, k) => a[k * b.meta.width + u]!);
        };
        const neuronColumns = Array.from({ length: neurons.meta.width }, (_, u) => column(neurons, u));
        const featureLabels = readLabels(store, input.featureLabels);
        // Runs started before minCorrelation existed pass none: no minimum.
        const minCorrelation = input.minCorrelation ?? -Infinity;
        const scoreOf = (f: UnitScore) => f.allTokens ?? f.topAndRandom;
        const candidates = [...input.featureScores]
          .filter((f) => scoreOf(f) > 0)
          .sort((a, b) => scoreOf(b) - scoreOf(a) || a.unit - b.unit)
          .slice(0, input.count);
        const correlations = candidates.map((f) => {
          const fc = column(features, f.unit);
          return neuronColumns.map((nc) => pearson(fc, nc));
        });
        // munkres minimises cost; a pair below the minimum costs more than any allowed pair can save.
        const forbidden = 2 * (candidates.length + 1);
        const pairs = candidates.length === 0 ? [] : munkres(correlations.map((row) => row.map((c) => (c >= minCorrelation ? -c : forbidden))));
        const assignments = pairs
          .filter(([i, u]) => correlations[i]![u]! >= minCorrelation)
          .map(([i, u]) => ({ neuron: u, feature: candidates[i]!.unit, featureScore: scoreOf(candidates[i]!), correlation: Math.round(correlations[i]![u]! * 1e4) / 1e4 }))
          .sort((a, b) => b.featureScore - a.featureScore || a.feature - b.feature);
        const labels = readExplanations(store, input.neuronLabels);
        for (const a of assignments) labels.find((e) => e.unit === a.neuron)!.label = featureLabels.get(a.feature)!;
        return { labels: store.putJson('labels', labels), legibleUnits: assignments.map((a) => a.neuron).sort((x, y) => x - y), assignments };
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
      const settings = { seed: p.seed, batchSize: p.training.batchSize, alignment: { ...p.alignment, weight: input.legibleUnits.length > 0 ? p.alignment.weight : 0 } };
      return once('alignLegibleNeurons', { ...rest, settings }, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const initial = loadModel(input.model);
        const depth = initial.depthOf(input.layer);
        const width = initial.spec.hidden[depth]!.width;
        const examples = nextWordExamples(corpus, corpus.splits.align, initial.spec.contextWords);
        const simulated = readSimulations(store, input.simulations, examples.targets.length);
        const missing = input.legibleUnits.filter((u) => !simulated.has(u));
        if (missing.length > 0) {
          initial.dispose();
          throw new InvalidInputError(`alignLegibleNeurons: no simulation on the align split for units ${missing.join(', ')}`);
        }
        // Targets come from the model as it was before alignment, in every attempt.
        const { targets, weights } = alignmentTargets(recordLayer(initial, examples.windows, depth), width, input.legibleUnits, simulated);
        const { model, run, resumedFrom } = await trainResumably(initial, nextWordExamples(corpus, corpus.splits.train, initial.spec.contextWords), {
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
          return { ...saveModel(model, run, backend), alignLoss: run.alignLoss, alignedUnits, resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },

    /** Freezes the layer (and everything below it) and retrains the layers above on the original objective. */
    async retrainLayersAbove(input: { pipeline: Pipeline; corpus: ArtifactRef; model: ArtifactRef; layer: string }): Promise<ModelResult> {
      const { pipeline: p, ...rest } = input;
      return once('retrainLayersAbove', { ...rest, settings: { seed: p.seed, batchSize: p.training.batchSize, retraining: p.retraining, contextWords: p.model.contextWords } }, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const frozen = loadModel(input.model);
        const depth = frozen.depthOf(input.layer);
        frozen.freezeThrough(depth);
        if (p.retraining.epochs === 0) {
          try {
            return { ...saveModel(frozen, { seconds: 0, steps: 0, samplesPerSecond: 0, taskLoss: NaN }, backend), resumedFrom: null };
          } finally {
            frozen.dispose();
          }
        }
        const { model, run, resumedFrom } = await trainResumably(frozen, nextWordExamples(corpus, corpus.splits.train, p.model.contextWords), {
          epochs: p.retraining.epochs,
          batchSize: p.training.batchSize,
          learningRate: p.retraining.learningRate,
          seed: p.seed + 211 * (depth + 1),
        });
        try {
          return { ...saveModel(model, run, backend), resumedFrom };
        } finally {
          model.dispose();
        }
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * Alignment targets and weights for one layer on the align split. A legible neuron's target is its simulation
 * (0 to 10) scaled to the neuron's own active level; its errors are weighted so that tokens where the label says
 * "on" count as much in all as those where it says "off" (most tokens are "off"), and divided by the level² and the
 * number of legible neurons so that each neuron counts alike. Free neurons get weight 0: they are not aligned.
 */
function alignmentTargets(current: Float32Array, width: number, legibleUnits: number[], simulated: Map<number, Float32Array>) {
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
    const offWeight = on > 0 && on < n ? (0.5 * n) / (n - on) : 1;
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

/**
 * Lets the worker's own work through between units: activities share the process with the workflow worker, and a
 * long synchronous stretch would delay workflow tasks and heartbeats.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** The checkpoint named in this activity's last heartbeat (from an earlier attempt), if any. */
function lastCheckpoint(): ArtifactRef | undefined {
  try {
    return (Context.current().info.heartbeatDetails as { checkpoint?: ArtifactRef } | undefined)?.checkpoint;
  } catch {
    return undefined;
  }
}

/** Heartbeats when running as an activity; a no-op when a step is called directly (tests, benchmarks). */
function beat(details: object): void {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return;
  }
  context.heartbeat(details);
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function roundScore(s: UnitScore): UnitScore {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  return { unit: s.unit, allTokens: r(s.allTokens), topAndRandom: r(s.topAndRandom), randomOnly: r(s.randomOnly), constantOnRandom: s.constantOnRandom };
}

function hashArrays(...arrays: (Float32Array | Int32Array)[]): string {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 16);
}

/** A hash of the code that computes step results, so that stored results never outlive a change to it. */
function codeFingerprint(): string {
  const h = createHash('sha256');
  const root = join(__dirname, '..');
  for (const dir of ['activities', 'data', 'interp', 'llm', 'nn', 'pipelines', 'store']) {
    for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (/\.[jt]s$/.test(file)) h.update(file).update(readFileSync(join(root, dir, file)));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** Errors that no retry can fix fail the step for good, with the reason. */
function asFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof InvalidInputError) return ApplicationFailure.nonRetryable(err.message, err.name);
  return err;
}
