// Training, evaluation and recording for either model kind (nn/language-model.ts). One loop serves every training step: base training
// (task loss), alignment (task loss on training text plus the legible neurons' distance to their simulated
// activations on the align split) and retraining above a frozen layer (task loss, fewer trainable variables).
// Each step runs in one tidy scope, batches are gathered by row number from tensors uploaded once, and the loss is
// read back only when progress is reported.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { hasPadding, padRows, unpadRows, type Examples, type Intervention, type LanguageModel } from './language-model';
import { crossEntropy, readOut } from './ops';
import { restoreOptimizerState, saveOptimizerState, type OptimizerState } from './optimizer-state';

/** What alignment pulls the legible neurons of one layer towards, on its own set of examples. */
export interface AlignmentTargets {
  depth: number;
  /** The examples the targets are given for (the align split). */
  examples: Examples;
  /** [n × width] target activation per token and neuron (n: the examples' predicted tokens). */
  targets: Float32Array;
  /** [n × width] weight of each squared error; 0 for every free neuron, which therefore takes no part. */
  weights: Float32Array;
  /** Weight of the alignment loss against the task loss. */
  weight: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  trainable: tf.Variable[];
  /** With alignment, an epoch is a pass over the alignment examples, each step paired with a task batch. */
  alignment?: AlignmentTargets;
  /**
   * Task batches run with these units of hidden layer `depth` replaced by per-token values (`rows`, [n × units]
   * for the n training tokens): the network above learns to read them (substitution-aware retraining).
   */
  substitution?: { depth: number; units: number[]; rows: Float32Array };
  /** Called about every `progressEverySteps` steps and at the end of each epoch. */
  onProgress?: (p: TrainProgress) => void;
  progressEverySteps?: number;
  /** Called at the end of every epoch but the last, with what it takes to go on from there. */
  onCheckpoint?: (c: TrainCheckpoint) => Promise<void> | void;
  /** Go on from a checkpoint instead of starting at epoch 0 (the model's weights must be the checkpoint's). */
  resumeFrom?: TrainCheckpoint;
}

/** The state of a training run between two epochs, besides the model's weights. */
export interface TrainCheckpoint {
  /** The next epoch to run. */
  epoch: number;
  step: number;
  /** Where each batch stream stands. */
  streams: { pass: number; at: number }[];
  optimizer: OptimizerState;
  lastEpoch: { task: number; align: number };
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Mean task loss since the last report. */
  taskLoss: number;
  /** Mean alignment loss since the last report (0 without alignment). */
  alignLoss: number;
}

export interface TrainResult {
  steps: number;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Mean losses over the last epoch. */
  taskLoss: number;
  alignLoss: number;
}

/**
 * Lets heartbeats, queries and workflow tasks through at least ten times a second during a long computation: `maybe`
 * yields to the event loop when 100 ms have passed since the last yield. (Workers run workflow tasks on the same
 * event loop: a computation that holds it for seconds stalls them, and Temporal warns of slow workflow tasks.)
 */
export class EventLoopPause {
  private last = performance.now();

  async maybe(): Promise<void> {
    if (performance.now() - this.last < 100) return;
    await new Promise((r) => setImmediate(r));
    this.last = performance.now();
  }
}

/**
 * Weighted squared distance of a layer's activations [rows, width] to their targets, summed over neurons, averaged
 * over `rows` tokens (default: every row; padding rows have weight 0).
 */
export function alignmentLoss(hidden: tf.Tensor2D, targets: tf.Tensor2D, weights: tf.Tensor, rows: tf.Scalar | number = hidden.shape[0]): tf.Scalar {
  return tf.div(tf.sum(tf.mul(tf.squaredDifference(hidden, targets), weights)), rows);
}

/**
 * The arrays a batch stream holds for examples: inputs, targets (padding as class 0) and, where there is padding, a
 * mask of real positions; then any per-token rows, spread over the positions.
 */
function streamArrays(model: LanguageModel, data: Examples, rows: { data: Float32Array; columns: number }[] = []) {
  const padded = hasPadding(data.targets);
  const p = model.positions;
  return {
    padded,
    arrays: [
      { data: data.inputs, columns: model.inputLength },
      { data: padded ? data.targets.map((t) => Math.max(t, 0)) : data.targets, columns: p },
      ...(padded ? [{ data: Float32Array.from(data.targets, (t) => (t >= 0 ? 1 : 0)), columns: p }] : []),
      ...rows.map((r) => ({ data: padRows(data.targets, r.data, r.columns), columns: p * r.columns })),
    ],
  };
}

/**
 * Batches from a set of examples held as tensors: each pass shuffles them with a permutation seeded by the pass
 * number (so a stream can be put back where it stood), and each batch gathers its rows by index (GatherNd). Only the
 * batch's row numbers go to the backend each step: the wasm backend's Slice copies its whole input to JavaScript on
 * every call, which for the alignment targets was megabytes a step.
 */
class BatchStream {
  private readonly all: tf.Tensor[];
  private order = new Int32Array(0);
  private pass = -1;
  private at: number;
  readonly n: number;

  constructor(
    arrays: { data: Int32Array | Float32Array; columns: number }[],
    private readonly seed: number,
  ) {
    this.n = arrays[0]!.data.length / arrays[0]!.columns;
    this.all = arrays.map((a) => (a.columns === 1 ? tf.tensor1d(a.data) : tf.tensor2d(a.data, [this.n, a.columns])));
    this.at = this.n;
  }

  position(): { pass: number; at: number } {
    return { pass: this.pass, at: this.at };
  }

  restore(p: { pass: number; at: number }): void {
    if (p.pass >= 0) this.startPass(p.pass);
    this.at = p.at;
  }

  private startPass(pass: number): void {
    this.order = new Rng(this.seed * 100_003 + pass).shuffle(Int32Array.from({ length: this.n }, (_, i) => i));
    this.pass = pass;
    this.at = 0;
  }

  next(size: number): tf.Tensor[] {
    if (this.at >= this.n) this.startPass(this.pass + 1);
    const count = Math.min(size, this.n - this.at);
    const rows = tf.tensor2d(this.order.subarray(this.at, this.at + count), [count, 1], 'int32');
    this.at += count;
    return this.all.map((t) => tf.gatherND(t, rows));
  }

  dispose(): void {
    tf.dispose(this.all);
  }
}

export async function train(model: LanguageModel, data: Examples, o: TrainOptions): Promise<TrainResult> {
  const align = o.alignment;
  if (data.targets.length === 0 || (align && align.examples.targets.length === 0)) throw new Error('no training examples');
  const optimizer = tf.train.adam(o.learningRate);
  const sub = o.substitution;
  const taskLayout = streamArrays(model, data, sub ? [{ data: sub.rows, columns: sub.units.length }] : []);
  const task = new BatchStream(taskLayout.arrays, o.seed);
  const width = align ? model.spec.hidden[align.depth]!.width : 0;
  const alignLayout = align
    ? streamArrays(model, align.examples, [
        { data: align.targets, columns: width },
        { data: align.weights, columns: width },
      ])
    : undefined;
  const aligned = alignLayout ? new BatchStream(alignLayout.arrays, o.seed + 1) : undefined;
  const rowsOf = (batch: tf.Tensor[]) => batch[0]!.shape[0] * model.positions;
  /** A batch's tensors as [inputs, targets [rows], mask [rows]?, ...per-token rows [rows, columns]]. */
  const unpack = (batch: tf.Tensor[], padded: boolean) => {
    const rows = rowsOf(batch);
    const [inputs, targets, ...rest] = batch;
    const mask = padded ? (tf.reshape(rest.shift()!, [rows]) as tf.Tensor1D) : undefined;
    return { inputs: inputs as tf.Tensor2D, targets: tf.reshape(targets!, [rows]) as tf.Tensor1D, mask, extra: rest.map((t) => tf.reshape(t, [rows, t.shape[1]! / model.positions]) as tf.Tensor2D) };
  };
  const perEpoch = aligned ? aligned.n : task.n;
  const stepsPerEpoch = Math.ceil(perEpoch / o.batchSize);
  const every = o.progressEverySteps ?? 50;

  const streams = aligned ? [task, aligned] : [task];
  let step = 0;
  let firstEpoch = 0;
  let lastEpoch = { task: 0, align: 0 };
  if (o.resumeFrom) {
    const r = o.resumeFrom;
    ({ step, lastEpoch } = r);
    firstEpoch = r.epoch;
    r.streams.forEach((p, i) => streams[i]!.restore(p));
    await restoreOptimizerState(optimizer, r.optimizer);
  }
  // Preparing the streams can take seconds on a large corpus: let the worker's other work through first.
  await new Promise((r) => setImmediate(r));
  const started = performance.now();
  const pause = new EventLoopPause();
  try {
    for (let epoch = firstEpoch; epoch < o.epochs; epoch++) {
      let sums = tf.zeros([2]);
      let epochSums = tf.zeros([2]);
      let sinceReport = 0;
      for (let s = 0; s < stepsPerEpoch; s++, step++) {
        const losses = tf.tidy(() => {
          const t = unpack(task.next(o.batchSize), taskLayout.padded);
          const a = aligned && alignLayout ? unpack(aligned.next(o.batchSize), alignLayout.padded) : undefined;
          let parts: tf.Tensor1D | undefined;
          const { grads } = tf.variableGrads(() => {
            const substituted = sub ? [{ depth: sub.depth, units: sub.units, rows: t.extra[0]! }] : [];
            const taskLoss = crossEntropy(model.forward(t.inputs, undefined, substituted).logits, t.targets, t.mask);
            if (!align || !a) {
              parts = tf.keep(tf.stack([taskLoss, tf.scalar(0)]) as tf.Tensor1D);
              return taskLoss;
            }
            const hidden = model.forward(a.inputs, align.depth).hidden[align.depth]!;
            const alignLoss = alignmentLoss(hidden, a.extra[0]!, a.extra[1]!, a.mask ? (tf.maximum(tf.sum(a.mask), 1) as tf.Scalar) : undefined);
            parts = tf.keep(tf.stack([taskLoss, alignLoss]) as tf.Tensor1D);
            return tf.add(taskLoss, tf.mul(alignLoss, align.weight));
          }, o.trainable);
          // In the order of `trainable`, which is the same in every process: the optimizer keeps its moments by position.
          optimizer.applyGradients(o.trainable.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
          return parts!;
        });
        const nextSums = tf.add(sums, losses);
        const nextEpoch = tf.add(epochSums, losses);
        tf.dispose([sums, epochSums, losses]);
        sums = nextSums;
        epochSums = nextEpoch;
        sinceReport++;
        await pause.maybe();
        if (sinceReport >= every || s === stepsPerEpoch - 1) {
          const [taskLoss, alignLoss] = (await sums.data()) as Float32Array;
          o.onProgress?.({ epoch, epochs: o.epochs, step, steps: stepsPerEpoch * o.epochs, taskLoss: taskLoss! / sinceReport, alignLoss: alignLoss! / sinceReport });
          sums.dispose();
          sums = tf.zeros([2]);
          sinceReport = 0;
        }
      }
      const [taskLoss, alignLoss] = (await epochSums.data()) as Float32Array;
      lastEpoch = { task: taskLoss! / stepsPerEpoch, align: alignLoss! / stepsPerEpoch };
      tf.dispose([sums, epochSums]);
      if (o.onCheckpoint && epoch < o.epochs - 1) {
        await o.onCheckpoint({ epoch: epoch + 1, step, streams: streams.map((s) => s.position()), optimizer: await saveOptimizerState(optimizer), lastEpoch });
      }
    }
  } finally {
    task.dispose();
    aligned?.dispose();
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const samples = perEpoch * (o.epochs - firstEpoch);
  return { steps: step, samples, seconds, samplesPerSecond: samples / seconds, taskLoss: lastEpoch.task, alignLoss: lastEpoch.align };
}

export interface TaskMetrics {
  tokens: number;
  /** Mean next-token cross-entropy (nats). */
  loss: number;
  perplexity: number;
  /** Top-1 next-word accuracy. */
  accuracy: number;
}

/**
 * Every token's next-token loss (nats) and whether the model's top prediction was right, in token order: [n] each
 * (n: the examples' targets that are not padding). With `interventions`, units of hidden layers are replaced (zero or
 * mean ablation, or substitution, whose `rows` then cover all n tokens: [n × units] row-major).
 */
export async function tokenLosses(model: LanguageModel, data: Examples, interventions: Intervention[] = [], batchTokens = 4096): Promise<{ losses: Float32Array; correct: Uint8Array }> {
  const p = model.positions;
  const length = model.inputLength;
  const examples = data.targets.length / p;
  const batchSize = Math.max(1, Math.floor(batchTokens / p));
  const spread = interventions.map((i) => (i.rows instanceof Float32Array ? { ...i, rows: padRows(data.targets, i.rows, i.units.length) } : i));
  const losses = new Float32Array(data.targets.length);
  const correct = new Uint8Array(data.targets.length);
  const pause = new EventLoopPause();
  for (let start = 0; start < examples; start += batchSize) {
    const size = Math.min(batchSize, examples - start);
    const rows = size * p;
    const [l, c] = tf.tidy(() => {
      const inputs = tf.tensor2d(data.inputs.subarray(start * length, (start + size) * length), [size, length], 'int32');
      const t = tf.tensor1d(data.targets.subarray(start * p, start * p + rows).map((x) => Math.max(x, 0)), 'int32');
      const batchOf = (i: Intervention): Intervention => (i.rows instanceof Float32Array ? { ...i, rows: i.rows.subarray(start * p * i.units.length, (start * p + rows) * i.units.length) } : i);
      const { logits } = model.forward(inputs, undefined, spread.map(batchOf));
      const classes = logits.shape[1];
      const at = tf.expandDims(tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(classes, 'int32')), t), 1);
      const picked = tf.gatherND(tf.reshape(tf.logSoftmax(logits), [rows * classes]), at);
      return [tf.neg(picked).dataSync() as Float32Array, tf.equal(tf.argMax(logits, 1), t).dataSync() as Uint8Array];
    });
    losses.set(l!, start * p);
    correct.set(c!, start * p);
    await pause.maybe();
  }
  return { losses: unpadRows(data.targets, losses, 1), correct: unpadRows(data.targets, correct, 1) };
}

/** Mean next-token loss, perplexity and accuracy over the examples' tokens. */
export async function evaluate(model: LanguageModel, data: Examples, interventions: Intervention[] = [], batchTokens = 4096): Promise<TaskMetrics> {
  const { losses, correct } = await tokenLosses(model, data, interventions, batchTokens);
  const n = losses.length;
  const loss = losses.reduce((a, b) => a + b, 0) / n;
  return { tokens: n, loss, perplexity: Math.exp(loss), accuracy: correct.reduce((a, b) => a + b, 0) / n };
}

/** Activations of hidden layer `depth` at every token of the examples: [n × width], row k for token k. */
export async function recordLayer(model: LanguageModel, data: Examples, depth: number, batchTokens = 4096): Promise<Float32Array> {
  const p = model.positions;
  const length = model.inputLength;
  const width = model.spec.hidden[depth]!.width;
  const examples = data.targets.length / p;
  const batchSize = Math.max(1, Math.floor(batchTokens / p));
  const out = new Float32Array(data.targets.length * width);
  const pause = new EventLoopPause();
  for (let start = 0; start < examples; start += batchSize) {
    const size = Math.min(batchSize, examples - start);
    const acts = readOut(() => {
      const inputs = tf.tensor2d(data.inputs.subarray(start * length, (start + size) * length), [size, length], 'int32');
      return model.forward(inputs, depth).hidden[depth]!;
    });
    out.set(acts, start * p * width);
    await pause.maybe();
  }
  return unpadRows(data.targets, out, width);
}
