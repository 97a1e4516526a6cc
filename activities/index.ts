// Every step kind of a pipeline, one activity each: thin wrappers that load their inputs from the artifact store,
// call the plain modules (data/, nn/, interp/, llm/), store what they make and return small JSON. Results are
// memoised by their inputs, so a retried, resumed or replayed step never pays twice. Long steps heartbeat.
import { ApplicationFailure, Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';
import { buildCorpus, corpusFromBundle, corpusToBundle, nextWordExamples, sentence, type Corpus, type CorpusMeta, type SplitName } from '../data/corpus';
import { unitRecords, type LayerActivations } from '../interp/records';
import { mean, scoreUnit, type UnitScore } from '../interp/scoring';
import { explainerFor, simulatorFor, type Explanation } from '../llm/provider';
import { SIMULATION_MAX } from '../llm/embedded/simulator';
import { initBackend } from '../nn/backend';
import { NextWordModel, type ModelMeta } from '../nn/model';
import { evaluate, recordLayer, train, type TaskMetrics, type TrainProgress } from '../nn/train';
import type { Pipeline, StepKind } from '../pipelines/schema';
import type { ArtifactRef, ArtifactStore } from '../store/artifacts';

export interface ModelResult {
  model: ArtifactRef;
  backend: string;
  seconds: number;
  samplesPerSecond: number;
  taskLoss: number;
  /** sha256 of each hidden layer's weights and biases: shows which layers a step changed. */
  layerHashes: Record<string, string>;
  /** True when the result was found in the store and nothing was recomputed. */
  reused: boolean;
}

export interface ScoreSummary {
  scores: UnitScore[];
  meanTopAndRandom: number;
  meanRandomOnly: number;
}

export function createActivities(store: ArtifactStore) {
  const code = codeFingerprint();

  /**
   * Runs a step once per distinct input and version of the code; a second call with the same input returns the
   * stored result.
   */
  async function once<R extends object>(kind: StepKind, input: unknown, compute: () => Promise<R>): Promise<R & { reused: boolean }> {
    try {
      const { result, reused } = await store.memoise(kind, { code, input }, compute);
      return { ...result, reused };
    } catch (err) {
      throw asFailure(err);
    }
  }

  const loadCorpus = (ref: ArtifactRef): Corpus => corpusFromBundle(store.getBundle<CorpusMeta>(ref));
  const loadModel = (ref: ArtifactRef): NextWordModel => NextWordModel.fromBundle(store.getBundle<ModelMeta>(ref));

  function saveModel(model: NextWordModel, run: { seconds: number; samplesPerSecond: number; taskLoss: number }, backend: string) {
    const bundle = model.toBundle();
    const layerHashes = Object.fromEntries(
      model.spec.hidden.map((h) => [h.name, hashArrays(bundle.arrays[`${h.name}.w`]!, bundle.arrays[`${h.name}.b`]!)]),
    );
    return { model: store.putBundle('model', bundle), backend, layerHashes, ...run };
  }

  /** The activations of one layer on one split, with the words of every token. */
  function layerActivations(corpus: Corpus, records: ArtifactRef): LayerActivations {
    const b = store.getBundle<{ width: number; split: SplitName }>(records);
    const ids = corpus.splits[b.meta.split];
    const starts = new Int32Array(ids.length + 1);
    const words: string[] = [];
    ids.forEach((s, i) => {
      const tokens = sentence(corpus, s);
      starts[i + 1] = starts[i]! + tokens.length;
      for (const t of tokens) words.push(corpus.meta.vocabulary[t]!);
    });
    return { width: b.meta.width, activations: b.arrays.activations as Float32Array, starts, words };
  }

  function sentencesOf(corpus: Corpus, split: SplitName): string[][] {
    return [...corpus.splits[split]].map((s) => [...sentence(corpus, s)].map((t) => corpus.meta.vocabulary[t]!));
  }

  return {
    /** Samples the corpus, builds the vocabulary and the splits. */
    async prepareCorpus(input: { pipeline: Pipeline }) {
      return once('prepareCorpus', input, async () => {
        const corpus = buildCorpus(input.pipeline);
        return { corpus: store.putBundle('corpus', corpusToBundle(corpus)), sentences: corpus.meta.sentences, tokens: corpus.meta.tokens, vocabularySize: corpus.meta.vocabulary.length, splitSizes: corpus.meta.splitSizes };
      });
    },

    /** Trains the base model on the original objective. */
    async trainBaseModel(input: { pipeline: Pipeline; corpus: ArtifactRef }): Promise<ModelResult> {
      return once('trainBaseModel', input, async () => {
        const backend = await initBackend();
        const { pipeline: p } = input;
        const corpus = loadCorpus(input.corpus);
        const model = NextWordModel.create(
          { vocabularySize: corpus.meta.vocabulary.length, contextWords: p.model.contextWords, embeddingSize: p.model.embeddingSize, hidden: p.model.hidden },
          p.seed,
        );
        try {
          const run = await train(model, nextWordExamples(corpus, corpus.splits.train, p.model.contextWords), {
            ...p.training,
            seed: p.seed,
            trainable: model.trainableVariables(),
            onProgress: heartbeat,
          });
          return saveModel(model, run, backend);
        } finally {
          model.dispose();
        }
      });
    },

    /** The task metric on held-out text: next-word loss, perplexity and accuracy. */
    async evaluateTask(input: { corpus: ArtifactRef; model: ArtifactRef }): Promise<{ metrics: TaskMetrics; backend: string; reused: boolean }> {
      return once('evaluateTask', input, async () => {
        const backend = await initBackend();
        const corpus = loadCorpus(input.corpus);
        const model = loadModel(input.model);
        try {
          return { metrics: evaluate(model, nextWordExamples(corpus, corpus.splits.heldOut, model.spec.contextWords)), backend };
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

    /** Labels every unit of a layer from its top-activating and random examples. */
    async explainNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; records: ArtifactRef }) {
      return once('explainNeurons', input, async () => {
        const { interpretability: o, seed } = input.pipeline;
        const acts = layerActivations(loadCorpus(input.corpus), input.records);
        const explainer = explainerFor(input.pipeline.explainer);
        const explanations: Explanation[] = [];
        for (let unit = 0; unit < acts.width; unit++) {
          explanations.push(...(await explainer.explain([unitRecords(acts, unit, o.topExamples, o.randomExamples, seed)])));
          beat({ unitsExplained: unit + 1, units: acts.width });
        }
        return { labels: store.putJson('labels', explanations), units: explanations.length, explainer: explainer.name, examples: explanations.slice(0, 3) };
      });
    },

    /** Predicts each listed unit's activations on a split from its label alone (0 to 10 per token). */
    async simulateNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; labels: ArtifactRef; split: SplitName; units: number[] }) {
      return once('simulateNeurons', input, async () => {
        const corpus = loadCorpus(input.corpus);
        const labels = new Map(store.getJson<Explanation[]>(input.labels).map((e) => [e.unit, e.label]));
        const sentences = sentencesOf(corpus, input.split);
        const simulator = simulatorFor(input.pipeline.simulator);
        const tokens = sentences.reduce((n, s) => n + s.length, 0);
        const values = new Float32Array(tokens * input.units.length);
        for (const [j, unit] of input.units.entries()) {
          const label = labels.get(unit);
          if (label === undefined) throw new InvalidInputError(`unit ${unit} has no label in ${input.labels.sha256.slice(0, 12)}`);
          let k = 0;
          for (const s of await simulator.simulate(label, sentences)) for (const v of s) values[k++ * input.units.length + j] = v;
        }
        return { simulation: store.putBundle('simulation', { meta: { split: input.split, units: input.units }, arrays: { values } }), simulator: simulator.name };
      });
    },

    /** Correlation of simulated and true activations per unit: top-and-random and random-only. */
    async scoreExplanations(input: { pipeline: Pipeline; corpus: ArtifactRef; records: ArtifactRef; simulation: ArtifactRef }) {
      return once('scoreExplanations', input, async (): Promise<ScoreSummary> => {
        const { interpretability: o, seed } = input.pipeline;
        const truth = layerActivations(loadCorpus(input.corpus), input.records);
        const sim = store.getBundle<{ units: number[] }>(input.simulation);
        const values = sim.arrays.values as Float32Array;
        const units = sim.meta.units;
        const tokens = truth.words.length;
        const scores = units.map((unit, j) => {
          const column = new Float32Array(tokens);
          for (let k = 0; k < tokens; k++) column[k] = values[k * units.length + j]!;
          return roundScore(scoreUnit(truth, column, unit, { top: o.topExamples, random: o.randomExamples, seed }));
        });
        return { scores, meanTopAndRandom: mean(scores.map((s) => s.topAndRandom)), meanRandomOnly: mean(scores.map((s) => s.randomOnly)) };
      });
    },

    /**
     * Trains the layer's legible neurons towards the simulated activations of their labels (scaled to each neuron's
     * own activation level), together with the task loss. Free neurons take no part in the alignment loss.
     */
    async alignLegibleNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; model: ArtifactRef; layer: string; legibleUnits: number[]; simulation: ArtifactRef }): Promise<ModelResult & { alignLoss: number; alignedUnits: number[] }> {
      return once('alignLegibleNeurons', input, async () => {
        const backend = await initBackend();
        const { pipeline: p } = input;
        const corpus = loadCorpus(input.corpus);
        const model = loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const width = model.spec.hidden[depth]!.width;
          const examples = nextWordExamples(corpus, corpus.splits.align, model.spec.contextWords);
          const sim = store.getBundle<{ units: number[]; split: SplitName }>(input.simulation);
          if (sim.meta.split !== 'align' || sim.meta.units.join() !== input.legibleUnits.join())
            throw new InvalidInputError('alignLegibleNeurons: the simulation must cover the align split and exactly the legible units');
          const { targets, weights } = alignmentTargets(recordLayer(model, examples.windows, depth), width, input.legibleUnits, sim.arrays.values as Float32Array);
          const run = await train(model, nextWordExamples(corpus, corpus.splits.train, model.spec.contextWords), {
            epochs: p.alignment.epochs,
            batchSize: p.training.batchSize,
            learningRate: p.alignment.learningRate,
            seed: p.seed + 101 * (depth + 1),
            trainable: model.trainableVariables(),
            alignment: { depth, examples, targets, weights, weight: p.alignment.weight },
            onProgress: heartbeat,
          });
          const alignedUnits = Array.from({ length: width }, (_, u) => u).filter((u) => {
            for (let k = u; k < weights.length; k += width) if (weights[k]! > 0) return true;
            return false;
          });
          return { ...saveModel(model, run, backend), alignLoss: run.alignLoss, alignedUnits };
        } finally {
          model.dispose();
        }
      });
    },

    /** Freezes the layer (and everything below it) and retrains the layers above on the original objective. */
    async retrainLayersAbove(input: { pipeline: Pipeline; corpus: ArtifactRef; model: ArtifactRef; layer: string }): Promise<ModelResult> {
      return once('retrainLayersAbove', input, async () => {
        const backend = await initBackend();
        const { pipeline: p } = input;
        const corpus = loadCorpus(input.corpus);
        const model = loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          model.freezeThrough(depth);
          const run =
            p.retraining.epochs > 0
              ? await train(model, nextWordExamples(corpus, corpus.splits.train, p.model.contextWords), {
                  epochs: p.retraining.epochs,
                  batchSize: p.training.batchSize,
                  learningRate: p.retraining.learningRate,
                  seed: p.seed + 211 * (depth + 1),
                  trainable: model.trainableVariables(),
                  onProgress: heartbeat,
                })
              : { seconds: 0, samplesPerSecond: 0, taskLoss: NaN };
          return saveModel(model, run, backend);
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
function alignmentTargets(current: Float32Array, width: number, legibleUnits: number[], simulation: Float32Array) {
  const n = current.length / width;
  const targets = new Float32Array(n * width);
  const weights = new Float32Array(n * width);
  legibleUnits.forEach((unit, j) => {
    const level = activeLevel(current, width, unit);
    const sim = (k: number) => simulation[k * legibleUnits.length + j]!;
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

/** Training progress as heartbeat details: what `legible status` and the Temporal UI show of a running step. */
function heartbeat(p: TrainProgress): void {
  beat({ epoch: p.epoch, epochs: p.epochs, step: p.step, steps: p.steps, taskLoss: p.taskLoss, alignLoss: p.alignLoss, tensors: tf.memory().numTensors });
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

function roundScore(s: UnitScore): UnitScore {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  return { unit: s.unit, topAndRandom: r(s.topAndRandom), randomOnly: r(s.randomOnly) };
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
