// Training, evaluation and recording for the next-word model. One loop serves every training step: base training
// (task loss), alignment (task loss on training text plus the legible neurons' distance to their simulated
// activations on the align split) and retraining above a frozen layer (task loss, fewer trainable variables).
// Each step runs in one tidy scope, batches are gathered by row number from tensors uploaded once, and the loss is
// read back only when progress is reported.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import type { Intervention, NextWordModel } from './model';
import { crossEntropy, readOut } from './ops';
import { restoreOptimizerState, saveOptimizerState, type OptimizerState } from './optimizer-state';

export interface Examples {
  /** [n × contextWords] token ids. */
  windows: Int32Array;
  /** [n] next-word ids. */
  targets: Int32Array;
}

/** What alignment pulls the legible neurons of one layer towards, on its own set of examples. */
export interface AlignmentTargets {
  depth: number;
  /** The examples the targets are given for (the align split). */
  examples: Examples;
  /** [n × width] target activation per example and neuron. */
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
   * Task batches run with these units of hidden layer `depth` replaced by per-example values (`rows`, [n × units]
   * for the n training examples): the network above learns to read them (substitution-aware retraining).
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

/** Weighted squared distance of a layer's activations to their targets, summed over neurons, averaged over the batch. */
export function alignmentLoss(hidden: tf.Tensor2D, targets: tf.Tensor2D, weights: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(tf.squaredDifference(hidden, targets), weights)), hidden.shape[0]);
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

export async function train(model: NextWordModel, data: Examples, o: TrainOptions): Promise<TrainResult> {
  const context = model.spec.contextWords;
  const align = o.alignment;
  if (data.targets.length === 0 || (align && align.examples.targets.length === 0)) throw new Error('no training examples');
  const optimizer = tf.train.adam(o.learningRate);
  const sub = o.substitution;
  const task = new BatchStream([{ data: data.windows, columns: context }, { data: data.targets, columns: 1 }, ...(sub ? [{ data: sub.rows, columns: sub.units.length }] : [])], o.seed);
  const width = align ? model.spec.hidden[align.depth]!.width : 0;
  const aligned = align
    ? new BatchStream(
        [
          { data: align.examples.windows, columns: context },
          { data: align.targets, columns: width },
          { data: align.weights, columns: width },
        ],
        o.seed + 1,
      )
    : undefined;
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
  let lastYield = started;
  try {
    for (let epoch = firstEpoch; epoch < o.epochs; epoch++) {
      let sums = tf.zeros([2]);
      let epochSums = tf.zeros([2]);
      let sinceReport = 0;
      for (let s = 0; s < stepsPerEpoch; s++, step++) {
        const losses = tf.tidy(() => {
          const [windows, targets, rows] = task.next(o.batchSize) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D?];
          const alignBatch = aligned?.next(o.batchSize) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] | undefined;
          let parts: tf.Tensor1D | undefined;
          const { grads } = tf.variableGrads(() => {
            const taskLoss = crossEntropy(model.forward(windows, undefined, sub && rows ? [{ depth: sub.depth, units: sub.units, rows }] : []).logits, targets);
            if (!align || !alignBatch) {
              parts = tf.keep(tf.stack([taskLoss, tf.scalar(0)]) as tf.Tensor1D);
              return taskLoss;
            }
            const hidden = model.forward(alignBatch[0], align.depth).hidden[align.depth]!;
            const alignLoss = alignmentLoss(hidden, alignBatch[1], alignBatch[2]);
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
        // Let heartbeats, queries and workflow tasks through at least ten times a second.
        if (performance.now() - lastYield > 100) {
          await new Promise((r) => setImmediate(r));
          lastYield = performance.now();
        }
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
  /** Mean next-word cross-entropy (nats). */
  loss: number;
  perplexity: number;
  /** Top-1 next-word accuracy. */
  accuracy: number;
}

/**
 * Every example's next-word loss (nats) and whether the model's top prediction was right, in example order:
 * [n] each. With `interventions`, units of hidden layers are replaced (zero or mean ablation, or substitution, whose
 * `rows` then cover all n examples: [n × units] row-major).
 */
export function tokenLosses(model: NextWordModel, data: Examples, interventions: Intervention[] = [], batchSize = 4096): { losses: Float32Array; correct: Uint8Array } {
  const n = data.targets.length;
  const context = model.spec.contextWords;
  const losses = new Float32Array(n);
  const correct = new Uint8Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const [l, c] = tf.tidy(() => {
      const w = tf.tensor2d(data.windows.subarray(start * context, (start + size) * context), [size, context], 'int32');
      const t = tf.tensor1d(data.targets.subarray(start, start + size), 'int32');
      const batchOf = (i: Intervention): Intervention => (i.rows instanceof Float32Array ? { ...i, rows: i.rows.subarray(start * i.units.length, (start + size) * i.units.length) } : i);
      const { logits } = model.forward(w, undefined, interventions.map(batchOf));
      const classes = logits.shape[1];
      const at = tf.expandDims(tf.add(tf.mul(tf.range(0, size, 1, 'int32'), tf.scalar(classes, 'int32')), t), 1);
      const picked = tf.gatherND(tf.reshape(tf.logSoftmax(logits), [size * classes]), at);
      return [tf.neg(picked).dataSync() as Float32Array, tf.equal(tf.argMax(logits, 1), t).dataSync() as Uint8Array];
    });
    losses.set(l!, start);
    correct.set(c!, start);
  }
  return { losses, correct };
}

/** Mean next-word loss, perplexity and accuracy over the examples. */
export function evaluate(model: NextWordModel, data: Examples, interventions: Intervention[] = [], batchSize = 4096): TaskMetrics {
  const { losses, correct } = tokenLosses(model, data, interventions, batchSize);
  const n = losses.length;
  const loss = losses.reduce((a, b) => a + b, 0) / n;
  return { tokens: n, loss, perplexity: Math.exp(loss), accuracy: correct.reduce((a, b) => a + b, 0) / n };
}

/** Activations of hidden layer `depth` for every window: [n × width], row k for window k. */
export function recordLayer(model: NextWordModel, windows: Int32Array, depth: number, batchSize = 4096): Float32Array {
  const context = model.spec.contextWords;
  const width = model.spec.hidden[depth]!.width;
  const n = windows.length / context;
  const out = new Float32Array(n * width);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const acts = readOut(() => {
      const w = tf.tensor2d(windows.subarray(start * context, (start + size) * context), [size, context], 'int32');
      return model.forward(w, depth).hidden[depth]!;
    });
    out.set(acts, start * width);
  }
  return out;
}
