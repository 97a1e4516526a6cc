// Training, evaluation and recording for the next-word model. One loop serves every training step: base training
// (task loss), alignment (task loss plus the legible neurons' distance to their simulated activations) and
// retraining above a frozen layer (task loss, fewer trainable variables). Each step runs in one tidy scope, batches
// are sliced from tensors shuffled once per epoch, and the loss is read back only when progress is reported.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import type { NextWordModel } from './model';
import { crossEntropy } from './ops';

export interface Examples {
  /** [n × contextWords] token ids. */
  windows: Int32Array;
  /** [n] next-word ids. */
  targets: Int32Array;
}

/** What alignment pulls the legible neurons of one layer towards. */
export interface AlignmentTargets {
  depth: number;
  /** [n × width] target activation per example and neuron (free neurons' columns are ignored). */
  targets: Float32Array;
  /** [width]: a legible neuron's weight in the loss (1 / its activation scale²); 0 for free neurons. */
  columnWeights: Float32Array;
  /** Weight of the alignment loss against the task loss. */
  weight: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  trainable: tf.Variable[];
  alignment?: AlignmentTargets;
  /** Called about every `progressEverySteps` steps and at the end of each epoch. */
  onProgress?: (p: TrainProgress) => void;
  progressEverySteps?: number;
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
 * Mean squared distance of the legible neurons' activations to their targets, each neuron weighted by
 * `columnWeights` (0 for free neurons, which therefore take no part in the loss).
 */
export function alignmentLoss(hidden: tf.Tensor2D, targets: tf.Tensor2D, columnWeights: tf.Tensor1D, legibleCount: number): tf.Scalar {
  const batch = hidden.shape[0];
  return tf.div(tf.sum(tf.mul(tf.squaredDifference(hidden, targets), columnWeights)), batch * Math.max(1, legibleCount));
}

export async function train(model: NextWordModel, data: Examples, o: TrainOptions): Promise<TrainResult> {
  const n = data.targets.length;
  const context = model.spec.contextWords;
  if (n === 0) throw new Error('no training examples');
  const optimizer = tf.train.adam(o.learningRate);
  const rng = new Rng(o.seed);
  const stepsPerEpoch = Math.ceil(n / o.batchSize);
  const every = o.progressEverySteps ?? 50;
  const align = o.alignment;
  const width = align ? model.spec.hidden[align.depth]!.width : 0;
  const legibleCount = align ? align.columnWeights.reduce((k, w) => k + (w > 0 ? 1 : 0), 0) : 0;

  const windows = tf.tensor2d(data.windows, [n, context], 'int32');
  const targets = tf.tensor1d(data.targets, 'int32');
  const alignTargets = align ? tf.tensor2d(align.targets, [n, width]) : undefined;
  const columnWeights = align ? tf.tensor1d(align.columnWeights) : undefined;

  let step = 0;
  let lastEpoch = { task: 0, align: 0 };
  const started = performance.now();
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const perm = tf.tensor1d(rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)), 'int32');
      const epochWindows = tf.gather(windows, perm);
      const epochTargets = tf.gather(targets, perm);
      const epochAlign = alignTargets ? tf.gather(alignTargets, perm) : undefined;
      perm.dispose();
      let sums = tf.zeros([2]);
      let sinceReport = 0;
      let epochSums = tf.zeros([2]);
      for (let s = 0; s < stepsPerEpoch; s++, step++) {
        const start = s * o.batchSize;
        const size = Math.min(o.batchSize, n - start);
        const losses = tf.tidy(() => {
          const bw = epochWindows.slice([start, 0], [size, context]) as tf.Tensor2D;
          const bt = epochTargets.slice([start], [size]) as tf.Tensor1D;
          const bAlign = epochAlign?.slice([start, 0], [size, width]) as tf.Tensor2D | undefined;
          let parts: tf.Tensor1D | undefined;
          const { grads } = tf.variableGrads(() => {
            const out = model.forward(bw);
            const task = crossEntropy(out.logits, bt);
            if (!align) {
              parts = tf.keep(tf.stack([task, tf.scalar(0)]) as tf.Tensor1D);
              return task;
            }
            const al = alignmentLoss(out.hidden[align.depth]!, bAlign!, columnWeights!, legibleCount);
            parts = tf.keep(tf.stack([task, al]) as tf.Tensor1D);
            return tf.add(task, tf.mul(al, align.weight));
          }, o.trainable);
          optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
          return parts!;
        });
        const nextSums = tf.add(sums, losses);
        const nextEpoch = tf.add(epochSums, losses);
        sums.dispose();
        epochSums.dispose();
        losses.dispose();
        sums = nextSums;
        epochSums = nextEpoch;
        sinceReport++;
        const endOfEpoch = s === stepsPerEpoch - 1;
        if (sinceReport >= every || endOfEpoch) {
          const [task, al] = (await sums.data()) as Float32Array;
          o.onProgress?.({ epoch, epochs: o.epochs, step, steps: stepsPerEpoch * o.epochs, taskLoss: task! / sinceReport, alignLoss: al! / sinceReport });
          sums.dispose();
          sums = tf.zeros([2]);
          sinceReport = 0;
          // Let heartbeats and cancellations through.
          await new Promise((r) => setImmediate(r));
        }
      }
      const [task, al] = (await epochSums.data()) as Float32Array;
      lastEpoch = { task: task! / stepsPerEpoch, align: al! / stepsPerEpoch };
      tf.dispose([sums, epochSums, epochWindows, epochTargets, ...(epochAlign ? [epochAlign] : [])]);
    }
  } finally {
    tf.dispose([windows, targets, ...(alignTargets ? [alignTargets] : []), ...(columnWeights ? [columnWeights] : [])]);
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { steps: step, samples: n * o.epochs, seconds, samplesPerSecond: (n * o.epochs) / seconds, taskLoss: lastEpoch.task, alignLoss: lastEpoch.align };
}

export interface TaskMetrics {
  tokens: number;
  /** Mean next-word cross-entropy (nats). */
  loss: number;
  perplexity: number;
  /** Top-1 next-word accuracy. */
  accuracy: number;
}

export function evaluate(model: NextWordModel, data: Examples, batchSize = 4096): TaskMetrics {
  const n = data.targets.length;
  const context = model.spec.contextWords;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const [l, c] = tf.tidy(() => {
      const w = tf.tensor2d(data.windows.subarray(start * context, (start + size) * context), [size, context], 'int32');
      const t = tf.tensor1d(data.targets.subarray(start, start + size), 'int32');
      const { logits } = model.forward(w);
      const lossSum = tf.mul(crossEntropy(logits, t), size);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), t), 'float32'));
      return [lossSum.dataSync()[0]!, hits.dataSync()[0]!];
    });
    lossSum += l!;
    correct += c!;
  }
  const loss = lossSum / n;
  return { tokens: n, loss, perplexity: Math.exp(loss), accuracy: correct / n };
}

/** Activations of hidden layer `depth` for every window: [n × width], row k for window k. */
export function recordLayer(model: NextWordModel, windows: Int32Array, depth: number, batchSize = 4096): Float32Array {
  const context = model.spec.contextWords;
  const width = model.spec.hidden[depth]!.width;
  const n = windows.length / context;
  const out = new Float32Array(n * width);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const acts = tf.tidy(() => {
      const w = tf.tensor2d(windows.subarray(start * context, (start + size) * context), [size, context], 'int32');
      return model.forward(w).hidden[depth]!.dataSync() as Float32Array;
    });
    out.set(acts, start * width);
  }
  return out;
}
