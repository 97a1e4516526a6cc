// What every model kind shares: the spec of each kind, the interface the training loops, recording, ablation and
// substitution use, activation interventions, and the one place that creates or loads a model of either kind.
// A model reads examples of `inputLength` token ids and predicts `positions` next tokens per example: the window
// MLP (nn/mlp.ts) one token from a window, the transformer (nn/transformer.ts) every token of a sequence. Every
// per-token array elsewhere (activations, losses, simulations) has one row per predicted token, in example order.
import * as tf from '@tensorflow/tfjs';
import type { Bundle } from '../store/artifacts';
import { hiddenLayers, type ModelSettings } from '../pipelines/schema';
import { InvalidInputError } from '../data/errors';
import type { Corpus } from '../data/corpus';
import { nextWordExamples, sequenceExamples } from '../data/examples';
// The two kinds import this module's helpers; they are only called after every module has loaded.
import { MlpModel } from './mlp';
import { TransformerModel } from './transformer';

export interface HiddenLayerSpec {
  name: string;
  width: number;
}

/** The window MLP: embeddings of the last `contextWords` tokens, ReLU hidden layers, a softmax. */
export interface MlpSpec {
  kind?: 'mlp';
  vocabularySize: number;
  contextWords: number;
  embeddingSize: number;
  hidden: HiddenLayerSpec[];
}

/** A decoder-only, pre-layer-norm transformer with learned positions; `hidden` names each block's MLP layer. */
export interface TransformerSpec {
  kind: 'transformer';
  vocabularySize: number;
  contextTokens: number;
  dModel: number;
  heads: number;
  dMlp: number;
  layers: number;
  activation: 'gelu' | 'relu';
  hidden: HiddenLayerSpec[];
}

export type ModelSpec = MlpSpec | TransformerSpec;

export interface ModelMeta<S extends ModelSpec = ModelSpec> {
  spec: S;
  /** Depth of the highest frozen hidden layer; that layer and everything below it (embeddings too) are frozen. -1: none. */
  frozenThrough: number;
}
export type MlpMeta = ModelMeta<MlpSpec>;
export type TransformerMeta = ModelMeta<TransformerSpec>;

/**
 * Units of one hidden layer whose activations are replaced: by zero (zero ablation), each by its own constant (its
 * mean, for mean ablation), or by per-token values (substitution: a label's simulation in the neuron's place).
 */
export interface Intervention {
  depth: number;
  units: number[];
  /** The value each listed unit is held at, in the order of `units`; default 0 for all. */
  values?: number[];
  /** Per-token values instead, [rows × units.length] row-major in the order of `units`, one row per predicted token. */
  rows?: tf.Tensor2D | Float32Array;
}

export interface Forward {
  /** Activations of each hidden layer, [batch × positions, width] (padding positions included). */
  hidden: tf.Tensor2D[];
  /** [batch × positions, vocabulary]. */
  logits: tf.Tensor2D;
}

/**
 * Examples as a model reads them: `inputs` [n × inputLength] token ids and `targets` [n × positions] next-token ids,
 * -1 where a position is padding (a sequence shorter than the context). Row k of every per-token array is the k-th
 * target that is not -1.
 */
export interface Examples {
  inputs: Int32Array;
  targets: Int32Array;
}

/** A next-token model whose hidden layers can be made legible. */
export interface LanguageModel {
  readonly meta: ModelMeta;
  readonly spec: ModelSpec;
  /** Token ids one example reads. */
  readonly inputLength: number;
  /** Next tokens one example predicts. */
  readonly positions: number;
  /**
   * inputs: [batch, inputLength] token ids. With `untilDepth`, stops after that hidden layer (no logits). With
   * `interventions` (rows then [batch × positions, units]), the listed units are replaced before the layers above
   * read them; the returned activations are the replaced ones.
   */
  forward(inputs: tf.Tensor2D, untilDepth?: undefined, interventions?: Intervention[]): Forward;
  forward(inputs: tf.Tensor2D, untilDepth: number, interventions?: Intervention[]): Pick<Forward, 'hidden'>;
  depthOf(layerName: string): number;
  /** Variables that training may change: everything above the frozen prefix, optionally only above `aboveDepth`. */
  trainableVariables(aboveDepth?: number): tf.Variable[];
  /** Freezes hidden layer `depth` and everything below it. */
  freezeThrough(depth: number): void;
  /** Copies of the weights and biases that compute hidden layer `depth` from the layer below. */
  layerWeights(depth: number): { w: Float32Array; b: Float32Array };
  /**
   * Direct weights from each neuron of the hidden layer below (rows) to each neuron of layer `depth` (columns),
   * [widthBelow × width]; for depth 0, from the layer's input. The MLP's are its weight matrix; a transformer's are
   * the virtual weights through the residual stream, W_out(below)·W_in(depth), layer norm and attention left out
   * (Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits").
   */
  incomingWeights(depth: number): Float32Array;
  /** Every weight, by name, with its shape (row-major), in a fixed order. */
  namedWeights(): { name: string; shape: number[]; values: Float32Array }[];
  toBundle(): Bundle<ModelMeta>;
  dispose(): void;
}

/** The spec of the model a pipeline's `model` settings describe, over a corpus vocabulary of `vocabularySize` tokens. */
export function modelSpec(settings: ModelSettings, vocabularySize: number): ModelSpec {
  const hidden = hiddenLayers(settings);
  if (settings.kind === 'transformer') {
    const { contextTokens, dModel, heads, dMlp, layers, activation } = settings;
    return { kind: 'transformer', vocabularySize, contextTokens, dModel, heads, dMlp, layers, activation, hidden };
  }
  return { kind: 'mlp', vocabularySize, contextWords: settings.contextWords, embeddingSize: settings.embeddingSize, hidden };
}

/** Depth of a named hidden layer; an InvalidInputError naming the layers there are otherwise. */
export function depthOfLayer(spec: ModelSpec, layerName: string): number {
  const depth = spec.hidden.findIndex((h) => h.name === layerName);
  if (depth < 0) throw new InvalidInputError(`the model has no hidden layer "${layerName}" (it has ${spec.hidden.map((h) => h.name).join(', ')})`);
  return depth;
}

/** x [rows, width] with the intervention's units replaced: kept columns × 1, replaced ones × 0 plus their values. */
export function intervene(x: tf.Tensor2D, width: number, i: Intervention): tf.Tensor2D {
  const keep = new Float32Array(width).fill(1);
  for (const u of i.units) keep[u] = 0;
  const kept = tf.mul(x, tf.tensor1d(keep));
  if (!i.rows) {
    const held = new Float32Array(width);
    i.units.forEach((u, j) => (held[u] = i.values?.[j] ?? 0));
    return tf.add(kept, tf.tensor1d(held));
  }
  // Per-token values [rows, units] placed in their columns by a one-hot [units, width] matrix.
  const rows = i.rows instanceof Float32Array ? tf.tensor2d(i.rows, [x.shape[0], i.units.length]) : i.rows;
  const place = new Float32Array(i.units.length * width);
  i.units.forEach((u, j) => (place[j * width + u] = 1));
  return tf.add(kept, tf.matMul(rows, tf.tensor2d(place, [i.units.length, width])));
}

/** The examples a model of this spec reads for a set of corpus sentences: windows (MLP) or padded sequences (transformer). */
export function examplesFor(spec: ModelSpec, corpus: Corpus, split: Int32Array): Examples {
  return spec.kind === 'transformer' ? sequenceExamples(corpus, split, spec.contextTokens) : nextWordExamples(corpus, split, spec.contextWords);
}

/** The tokens the examples predict: every target that is not padding (the rows of every per-token array). */
export function predictedTokens(e: Examples): number {
  return e.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
}

/** Whether any position is padding (target -1). */
export function hasPadding(targets: Int32Array): boolean {
  return targets.includes(-1);
}

/** Per-token rows [n × cols] spread to every position of the examples, [targets.length × cols], zero at padding. */
export function padRows(targets: Int32Array, rows: Float32Array, cols: number): Float32Array {
  if (!hasPadding(targets)) return rows;
  const out = new Float32Array(targets.length * cols);
  let k = 0;
  targets.forEach((t, p) => {
    if (t < 0) return;
    out.set(rows.subarray(k * cols, (k + 1) * cols), p * cols);
    k++;
  });
  return out;
}

/** The rows of `padded` [positions × cols] whose target is not -1, [n × cols]: the inverse of padRows. */
export function unpadRows<T extends Float32Array | Uint8Array>(targets: Int32Array, padded: T, cols: number): T {
  if (!hasPadding(targets)) return padded;
  const n = targets.reduce((c, t) => c + (t >= 0 ? 1 : 0), 0);
  const out = new (padded.constructor as new (n: number) => T)(n * cols);
  let k = 0;
  targets.forEach((t, p) => {
    if (t < 0) return;
    out.set(padded.subarray(p * cols, (p + 1) * cols), k * cols);
    k++;
  });
  return out;
}

/** A new model of the spec's kind, initialised from `seed`. */
export function createModel(spec: ModelSpec, seed: number): LanguageModel {
  return spec.kind === 'transformer' ? TransformerModel.create(spec, seed) : MlpModel.create(spec, seed);
}

/** The model a bundle holds (a bundle without a kind is an MLP's, as every bundle was before transformers). */
export function modelFromBundle(b: Bundle<ModelMeta>): LanguageModel {
  return b.meta.spec.kind === 'transformer' ? TransformerModel.fromBundle(b as Bundle<TransformerMeta>) : MlpModel.fromBundle(b as Bundle<MlpMeta>);
}

/**
 * Variables from a bundle's arrays, each checked against its shape; an InvalidInputError naming the first array that
 * is missing or of the wrong size.
 */
export function variablesFromArrays(arrays: Bundle['arrays'], shapes: [string, number[]][]): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    const a = arrays[name];
    const size = shape.reduce((x, y) => x * y, 1);
    if (!(a instanceof Float32Array) || a.length !== size) {
      for (const v of out.values()) v.dispose();
      throw new InvalidInputError(`model checkpoint: "${name}" should hold ${size} float32 values for shape [${shape}], found ${a ? a.length : 'nothing'}`);
    }
    out.set(name, tf.variable(tf.tensor(a, shape)));
  }
  return out;
}
