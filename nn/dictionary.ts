// Dictionary learning: a sparse autoencoder on one layer's activations, so that polysemantic neurons are split into
// features that can each carry one label. TopK (k active features per token) or ReLU with an L1 penalty; decoder
// rows kept at unit norm; features that never fire are re-initialised towards badly reconstructed inputs. Reports
// the fraction of variance explained, the mean number of active features (L0) and the dead-feature fraction.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import type { DictionarySettings } from '../pipelines/schema';
import type { Bundle } from '../store/artifacts';
import { columnSums, dense, readOut, topKRelu } from './ops';
import { restoreOptimizerState, saveOptimizerState, type OptimizerState } from './optimizer-state';

export interface DictionaryStats {
  features: number;
  /** 1 - residual variance / variance of the input. */
  fractionOfVarianceExplained: number;
  /** Mean number of active features per token. */
  meanL0: number;
  /** Share of features that fire on no token. */
  deadFraction: number;
}

interface Meta {
  inputs: number;
  features: number;
  kind: 'topk' | 'l1';
  k: number;
}

export class SparseAutoencoder {
  private constructor(
    readonly meta: Meta,
    private readonly encoder: { w: tf.Variable; b: tf.Variable },
    private readonly decoder: { w: tf.Variable; b: tf.Variable },
  ) {}

  static create(inputs: number, features: number, settings: Pick<DictionarySettings, 'kind' | 'k'>, seed: number): SparseAutoencoder {
    const w = tf.tidy(() => {
      const d = tf.randomNormal([features, inputs], 0, 1, 'float32', seed);
      return tf.div(d, tf.norm(d, 'euclidean', 1, true)) as tf.Tensor2D;
    });
    const sae = new SparseAutoencoder(
      { inputs, features, kind: settings.kind, k: settings.k },
      { w: tf.variable(tf.transpose(w)), b: tf.variable(tf.zeros([features])) },
      { w: tf.variable(w), b: tf.variable(tf.zeros([inputs])) },
    );
    w.dispose();
    return sae;
  }

  /** Feature activations [n, features] of inputs [n, inputs]. */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    const pre = dense(tf.sub(x, this.decoder.b), this.encoder.w as tf.Tensor2D, this.encoder.b as tf.Tensor1D);
    return this.meta.kind === 'topk' ? topKRelu(pre, this.meta.k) : tf.relu(pre);
  }

  decode(f: tf.Tensor2D): tf.Tensor2D {
    return dense(f, this.decoder.w as tf.Tensor2D, this.decoder.b as tf.Tensor1D);
  }

  /**
   * The trained variables. The decoder bias stays zero: the activations of ReLU layers have a natural zero, and a
   * trained decoder bias lets one feature fire on every token to offset it.
   */
  variables(): tf.Variable[] {
    return [this.encoder.w, this.encoder.b, this.decoder.w];
  }

  /** Feature activations of every row of `x` ([n × inputs]), as [n × features]. */
  encodeAll(x: Float32Array, batchSize = 4096): Float32Array {
    const n = x.length / this.meta.inputs;
    const out = new Float32Array(n * this.meta.features);
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const f = readOut(() => this.encode(tf.tensor2d(x.subarray(start * this.meta.inputs, (start + size) * this.meta.inputs), [size, this.meta.inputs])));
      out.set(f, start * this.meta.features);
    }
    return out;
  }

  stats(x: Float32Array): DictionaryStats {
    const n = x.length / this.meta.inputs;
    const [residual, total, active] = tf.tidy(() => {
      const xs = tf.tensor2d(x, [n, this.meta.inputs]);
      const f = this.encode(xs);
      const r = tf.sum(tf.squaredDifference(xs, this.decode(f)));
      const v = tf.sum(tf.squaredDifference(xs, tf.mean(xs, 0)));
      return [r.dataSync()[0]!, v.dataSync()[0]!, tf.sum(tf.cast(tf.greater(f, 0), 'float32'), 0).dataSync() as Float32Array];
    });
    let l0 = 0;
    let dead = 0;
    for (const a of active as Float32Array) {
      l0 += a;
      if (a === 0) dead++;
    }
    return {
      features: this.meta.features,
      fractionOfVarianceExplained: total > 0 ? 1 - (residual as number) / (total as number) : 0,
      meanL0: l0 / n,
      deadFraction: dead / this.meta.features,
    };
  }

  /** Scales decoder rows back to unit norm (so sparsity cannot be bought by shrinking features). */
  normaliseDecoder(): void {
    tf.tidy(() => {
      const w = this.decoder.w;
      w.assign(tf.div(w, tf.maximum(tf.norm(w, 'euclidean', 1, true), 1e-8)));
    });
  }

  /** Points dead features at the directions of the given (badly reconstructed) inputs. */
  resample(dead: number[], directions: Float32Array[]): void {
    if (dead.length === 0) return;
    const { inputs, features } = this.meta;
    const enc = this.encoder.w.dataSync().slice() as Float32Array; // [inputs × features]
    const encB = this.encoder.b.dataSync().slice() as Float32Array;
    const dec = this.decoder.w.dataSync().slice() as Float32Array; // [features × inputs]
    // New encoder columns get the mean norm of the live ones, so a resampled feature can win its inputs.
    const isDead = new Set(dead);
    const columnNorm = (f: number) => Math.hypot(...Array.from({ length: inputs }, (_, j) => enc[j * features + f]!));
    const live = [...Array(features).keys()].filter((f) => !isDead.has(f));
    const scale = live.length > 0 ? live.reduce((sum, f) => sum + columnNorm(f), 0) / live.length : 1;
    dead.forEach((feature, i) => {
      const r = directions[i % directions.length]!;
      const norm = Math.hypot(...r) || 1;
      for (let j = 0; j < inputs; j++) {
        dec[feature * inputs + j] = r[j]! / norm;
        enc[j * features + feature] = (scale * r[j]!) / norm;
      }
      encB[feature] = 0;
    });
    this.encoder.w.assign(tf.tensor2d(enc, [inputs, features]));
    this.encoder.b.assign(tf.tensor1d(encB));
    this.decoder.w.assign(tf.tensor2d(dec, [features, inputs]));
  }

  static fromBundle(b: Bundle<Meta>): SparseAutoencoder {
    const { inputs, features } = b.meta;
    const get = (name: string, shape: number[]) => tf.variable(tf.tensor(b.arrays[name] as Float32Array, shape));
    return new SparseAutoencoder(
      b.meta,
      { w: get('encoder.w', [inputs, features]), b: get('encoder.b', [features]) },
      { w: get('decoder.w', [features, inputs]), b: get('decoder.b', [inputs]) },
    );
  }

  toBundle(): Bundle<Meta> {
    return {
      meta: this.meta,
      arrays: {
        'encoder.w': this.encoder.w.dataSync() as Float32Array,
        'encoder.b': this.encoder.b.dataSync() as Float32Array,
        'decoder.w': this.decoder.w.dataSync() as Float32Array,
        'decoder.b': this.decoder.b.dataSync() as Float32Array,
      },
    };
  }

  dispose(): void {
    tf.dispose([...this.variables(), this.decoder.b]);
  }
}

/** A dictionary's training between two epochs: its weights, the optimizer's state and the shuffling generator's. */
export interface DictionaryCheckpoint {
  /** The next epoch to run. */
  epoch: number;
  resampled: number;
  rngState: number;
  sae: Bundle<Meta>;
  optimizer: OptimizerState;
}

/**
 * Trains a sparse autoencoder on `x` ([n × inputs], one row per token). Loss: squared reconstruction error
 * normalised by the input's variance, plus (l1) the L1 norm of the feature activations.
 */
export async function trainDictionary(
  x: Float32Array,
  inputs: number,
  s: DictionarySettings,
  seed: number,
  onEpoch?: (p: { epoch: number; epochs: number; loss: number }) => void,
  checkpoints?: { resumeFrom?: DictionaryCheckpoint; onCheckpoint?: (c: DictionaryCheckpoint) => void },
): Promise<{ sae: SparseAutoencoder; stats: DictionaryStats; resampled: number }> {
  const n = x.length / inputs;
  const features = Math.max(1, Math.round(inputs * s.expansion));
  const mean = new Float32Array(inputs);
  for (let i = 0; i < n; i++) for (let j = 0; j < inputs; j++) mean[j] += x[i * inputs + j]! / n;
  let variance = 0;
  for (let i = 0; i < x.length; i++) variance += (x[i]! - mean[i % inputs]!) ** 2 / n;
  const resume = checkpoints?.resumeFrom;
  const sae = resume ? SparseAutoencoder.fromBundle(resume.sae) : SparseAutoencoder.create(inputs, features, s, seed);
  const optimizer = tf.train.adam(s.learningRate);
  const rng = new Rng(seed);
  let resampled = resume?.resampled ?? 0;
  if (resume) {
    rng.state32 = resume.rngState;
    await restoreOptimizerState(optimizer, resume.optimizer);
  }
  const all = tf.tensor2d(x, [n, inputs]);
  const steps = Math.ceil(n / s.batchSize);
  try {
    for (let epoch = resume?.epoch ?? 0; epoch < s.epochs; epoch++) {
      const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
      let fired = tf.zeros([features]);
      let lossSum: tf.Tensor = tf.scalar(0);
      for (let step = 0; step < steps; step++) {
        const start = step * s.batchSize;
        const size = Math.min(s.batchSize, n - start);
        const [loss, active] = tf.tidy(() => {
          // Rows by index: the wasm backend's Slice would copy all of x to JavaScript every step.
          const batch = tf.gatherND(all, tf.tensor2d(order.subarray(start, start + size), [size, 1], 'int32')) as tf.Tensor2D;
          let f: tf.Tensor2D | undefined;
          const { value, grads } = tf.variableGrads(() => {
            f = sae.encode(batch);
            const mse = tf.div(tf.sum(tf.squaredDifference(batch, sae.decode(f))), size * variance || 1);
            const loss = s.kind === 'l1' ? tf.add(mse, tf.mul(tf.div(tf.sum(f), size), s.l1)) : mse;
            f = tf.keep(f);
            return loss as unknown as tf.Scalar;
          }, sae.variables());
          optimizer.applyGradients(sae.variables().map((v) => ({ name: v.name, tensor: grads[v.name]! })));
          const active = columnSums(tf.cast(tf.greater(f!, 0), 'float32') as tf.Tensor2D);
          f!.dispose();
          return [value, active];
        });
        sae.normaliseDecoder();
        const nextFired = tf.add(fired, active);
        const nextLoss = tf.add(lossSum, loss);
        tf.dispose([fired, lossSum, active, loss]);
        fired = nextFired;
        lossSum = nextLoss;
      }
      const firedCounts = (await fired.data()) as Float32Array;
      const meanLoss = ((await lossSum.data())[0] ?? 0) / steps;
      tf.dispose([fired, lossSum]);
      onEpoch?.({ epoch, epochs: s.epochs, loss: meanLoss });
      await new Promise((r) => setImmediate(r));
      const dead = [...firedCounts.keys()].filter((i) => firedCounts[i] === 0);
      if (s.resampleDead && dead.length > 0 && epoch < s.epochs - 1) {
        sae.resample(dead, worstReconstructed(sae, x, inputs, dead.length, rng));
        resampled += dead.length;
      }
      if (checkpoints?.onCheckpoint && epoch < s.epochs - 1) {
        checkpoints.onCheckpoint({ epoch: epoch + 1, resampled, rngState: rng.state32, sae: sae.toBundle(), optimizer: await saveOptimizerState(optimizer) });
      }
    }
  } finally {
    all.dispose();
    optimizer.dispose();
  }
  return { sae, stats: sae.stats(x), resampled };
}

/** `count` inputs drawn with probability proportional to their squared reconstruction error. */
function worstReconstructed(sae: SparseAutoencoder, x: Float32Array, inputs: number, count: number, rng: Rng): Float32Array[] {
  const n = x.length / inputs;
  const residual = readOut(() => {
    const xs = tf.tensor2d(x, [n, inputs]);
    return tf.sub(xs, sae.decode(sae.encode(xs)));
  });
  const errors = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs; j++) errors[i] += residual[i * inputs + j]! ** 2;
    total += errors[i]!;
  }
  const out: Float32Array[] = [];
  for (let c = 0; c < count; c++) {
    let r = rng.next() * total;
    let i = 0;
    while (i < n - 1 && r > errors[i]!) r -= errors[i++]!;
    out.push(x.slice(i * inputs, (i + 1) * inputs));
  }
  return out;
}
