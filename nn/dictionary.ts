// Dictionary learning: a sparse autoencoder on one layer's activations, so that polysemantic neurons are split into
// features that can each carry one label. TopK (k active features per token) or ReLU with an L1 penalty; decoder
// rows kept at unit norm; features that never fire are re-initialised towards badly reconstructed inputs. Reports
// the fraction of variance explained, the mean number of active features (L0) and the dead-feature fraction.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../data/rng';
import type { DictionarySettings } from '../pipelines/schema';
import type { Bundle } from '../store/artifacts';
import { columnSums, readOut } from './ops';
import { EventLoopPause } from './train';
import type { OptimizerState } from './optimizer-state';

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

/** The smallest positive float32: thresholds at least this keep only positive values. */
const SMALLEST_POSITIVE = 2 ** -149;

/** The float32 just below positive x (x itself a float32). */
const float32Bits = new Float32Array(1);
const int32Bits = new Int32Array(float32Bits.buffer);
function float32Below(x: number): number {
  float32Bits[0] = x;
  int32Bits[0]! -= 1;
  return float32Bits[0]!;
}

/**
 * 1 where an entry is among its row's k largest values and positive, else 0 (TopK's activation mask), for pre
 * [rows, cols]. The threshold is the row's k-th largest value (counting repeats, as tf.topk does) but at least the
 * smallest positive float, so that one comparison says which entries to keep. The wasm and cpu backends' TopK takes
 * 1.5 µs a row of 128, and their comparisons (Greater, LogicalAnd), with the casts after them, 0.15 ms each on a
 * 256 × 128 batch: there the thresholds are picked in JavaScript (2.5 times faster than TopK, the copy included) and
 * the mask is one Step of pre minus the float just below each threshold (exact: in IEEE arithmetic a - b > 0 exactly
 * when a > b).
 */
function topKMask(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [rows, cols] = pre.shape;
  const kk = Math.max(1, Math.min(k, cols));
  if (tf.getBackend() !== 'wasm' && tf.getBackend() !== 'cpu') {
    const threshold = tf.maximum(tf.min(tf.topk(pre, kk).values, 1, true), SMALLEST_POSITIVE);
    // 1 - step(threshold - pre): tf.step is 1 only where its input is positive, i.e. where pre is below the threshold.
    return tf.sub(tf.scalar(1), tf.step(tf.sub(threshold, pre))) as tf.Tensor2D;
  }
  // On wasm, read pre where it lies in the module's memory (nothing allocates before the loop ends): dataSync's copy
  // of a 256 × 128 batch costs more than the selection itself.
  const values = tf.getBackend() === 'wasm' ? (tf.backend() as BackendWasm).typedArrayFromHeap(pre) : pre.dataSync();
  const below = new Float32Array(rows);
  // The row's kk largest so far, in descending order; `least` is the last of them. Four entries are tested at once:
  // past a row's first few, all four are usually below `least`. (`least` is kept out of the closure: V8 reads a
  // captured variable from memory on every test, which doubles the loop's time.)
  const top = new Float64Array(kk);
  const insert = (z: number): number => {
    let i = kk - 1;
    for (; i > 0 && z > top[i - 1]!; i--) top[i] = top[i - 1]!;
    top[i] = z;
    return top[kk - 1]!;
  };
  for (let r = 0; r < rows; r++) {
    top.fill(-Infinity);
    let least = -Infinity;
    let j = r * cols;
    const end = j + cols;
    for (const end4 = j + (cols & ~3); j < end4; j += 4) {
      const z0 = values[j]!, z1 = values[j + 1]!, z2 = values[j + 2]!, z3 = values[j + 3]!;
      if (z0 > least || z1 > least || z2 > least || z3 > least) {
        if (z0 > least) least = insert(z0);
        if (z1 > least) least = insert(z1);
        if (z2 > least) least = insert(z2);
        if (z3 > least) least = insert(z3);
      }
    }
    for (; j < end; j++) if (values[j]! > least) least = insert(values[j]!);
    below[r] = float32Below(Math.max(least, SMALLEST_POSITIVE));
  }
  return tf.step(tf.sub(pre, tf.tensor2d(below, [rows, 1]))) as tf.Tensor2D;
}

export class SparseAutoencoder {
  /** Whether the decoder bias is non-zero (it is never trained, so this holds for the autoencoder's lifetime). */
  private readonly hasDecoderBias: boolean;

  private constructor(
    readonly meta: Meta,
    private readonly encoder: { w: tf.Variable; b: tf.Variable },
    private readonly decoder: { w: tf.Variable; b: tf.Variable },
  ) {
    this.hasDecoderBias = (decoder.b.dataSync() as Float32Array).some((v) => v !== 0);
  }

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
    const pre = this.preActivations(this.centre(x));
    return this.meta.kind === 'topk' ? tf.mul(pre, topKMask(pre, this.meta.k)) : tf.relu(pre);
  }

  decode(f: tf.Tensor2D): tf.Tensor2D {
    const out = tf.matMul(f, this.decoder.w as tf.Tensor2D) as tf.Tensor2D;
    return this.hasDecoderBias ? (tf.add(out, this.decoder.b) as tf.Tensor2D) : out;
  }

  /** x minus the decoder bias (x itself where that is zero, as it is unless a bundle says otherwise). */
  private centre(x: tf.Tensor2D): tf.Tensor2D {
    return this.hasDecoderBias ? tf.sub(x, this.decoder.b) : x;
  }

  private preActivations(centred: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(centred, this.encoder.w as tf.Tensor2D), this.encoder.b);
  }

  /**
   * One training step on a batch x [batch, inputs], in the caller's tidy scope: the loss (squared reconstruction
   * error over `scale`, plus for l1 `l1` times the mean L1 norm of the activations), its gradients written out by hand
   * and applied with `optimizer`. Returns the loss and the activity mask [batch, features] (1 where a feature fired).
   *
   * The gradients are those tfjs's tape would compute, without its costs on the wasm backend: every product with a
   * transposed operand transposes explicitly (matMul's transposeA/B forms run 10 to 40 times slower), the input's own
   * gradient and the untrained decoder bias's are not computed, one 0/1 mask serves the forward pass, the backward
   * pass and the firing counts, and the encoder bias's gradient comes out of the encoder weights' product (a ones
   * row under xᵀ) instead of a Sum over the batch.
   */
  trainStep(x: tf.Tensor2D, scale: number, l1: number, optimizer: StackedAdam): { loss: tf.Scalar; active: tf.Tensor2D } {
    const size = x.shape[0];
    const { inputs, features } = this.meta;
    const l1Kind = this.meta.kind === 'l1';
    const centred = this.centre(x);
    const pre = this.preActivations(centred);
    // 1 where a feature is active (kept by TopK, or positive for ReLU); ReLU's gradient is the same 0/1 mask.
    const active = l1Kind ? (tf.step(pre) as tf.Tensor2D) : topKMask(pre, this.meta.k);
    const f = (l1Kind ? tf.relu(pre) : tf.mul(pre, active)) as tf.Tensor2D;
    const error = tf.sub(this.decode(f), x);
    let loss = tf.div(tf.sum(tf.square(error)), scale);
    if (l1Kind) loss = tf.add(loss, tf.mul(tf.div(tf.sum(f), size), l1));
    const dRecon = tf.mul(error, tf.scalar(2 / scale)) as tf.Tensor2D;
    let dF = tf.matMul(dRecon, tf.transpose(this.decoder.w) as tf.Tensor2D);
    if (l1Kind) dF = tf.add(dF, tf.scalar(l1 / size));
    const dPre = tf.mul(dF, active) as tf.Tensor2D;
    const centredT = tf.concat([tf.transpose(centred), tf.ones([1, size])], 0) as tf.Tensor2D;
    const grad = tf.concat([tf.matMul(centredT, dPre), tf.reshape(tf.matMul(tf.transpose(f), dRecon), [inputs, features])], 0) as tf.Tensor2D;
    this.unstack(optimizer.update(this.stacked(), grad));
    return { loss: loss as tf.Scalar, active };
  }

  /**
   * The trained variables stacked as one [2·inputs + 1, features] matrix: the encoder weights, the encoder bias, then
   * the decoder weights' [features × inputs] values read as inputs rows of features (so the optimizer runs each of
   * its operations once, not once per variable).
   */
  private stacked(): tf.Tensor2D {
    const { inputs, features } = this.meta;
    return tf.concat([this.encoder.w, tf.reshape(this.encoder.b, [1, features]), tf.reshape(this.decoder.w, [inputs, features])], 0) as tf.Tensor2D;
  }

  /** Sets the trained variables from a stacked matrix (rows picked with GatherNd: Slice and Split copy to JavaScript). */
  private unstack(m: tf.Tensor2D): void {
    const { inputs, features } = this.meta;
    const rows = (from: number, count: number) => tf.gatherND(m, tf.tensor2d(Int32Array.from({ length: count }, (_, i) => from + i), [count, 1], 'int32'));
    this.encoder.w.assign(rows(0, inputs));
    this.encoder.b.assign(tf.reshape(rows(inputs, 1), [features]));
    this.decoder.w.assign(tf.reshape(rows(inputs + 1, inputs), [features, inputs]));
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
      // step(f), 1 where f > 0: the wasm backend's Greater and the cast after it cost ten times as much.
      return [r.dataSync()[0]!, v.dataSync()[0]!, tf.sum(tf.step(f), 0).dataSync() as Float32Array];
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
      // sqrt(Σ w²), not tf.norm: its pow and abs cost three times as much here.
      w.assign(tf.div(w, tf.maximum(tf.sqrt(tf.sum(tf.square(w), 1, true)), 1e-8)));
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

/**
 * Adam (tf.train.adam's, with its defaults) over the autoencoder's three variables stacked as one matrix: one set of
 * elementwise operations a step where tf.train.adam runs one per variable. At these sizes each operation costs its
 * dispatch, not its arithmetic: tf.train.adam's 46 took 0.3 ms of a 2.5 ms step. The state is saved and restored in
 * tf.train.adam's checkpoint layout (the iteration count, then the first and the second moments, one array per
 * variable), so checkpoints of either restore into the other.
 */
class StackedAdam {
  private iterations = 0;
  /** beta1^(iterations+1) and beta2^(iterations+1), in float32 as tf.train.adam keeps them. */
  private accBeta1: number;
  private accBeta2: number;
  private readonly epsilon = tf.backend().epsilon();
  /** beta1, 1 - beta1, beta2, 1 - beta2. */
  private readonly constants: tf.Scalar[];
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;

  constructor(
    private readonly learningRate: number,
    /** The variables' shapes, in stacking order (for checkpoints). */
    private readonly shapes: number[][],
    stackedShape: [number, number],
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
  ) {
    this.accBeta1 = Math.fround(beta1);
    this.accBeta2 = Math.fround(beta2);
    this.constants = [beta1, 1 - beta1, beta2, 1 - beta2].map((c) => tf.scalar(c));
    this.m = tf.variable(tf.zeros(stackedShape), false);
    this.v = tf.variable(tf.zeros(stackedShape), false);
  }

  /** The parameters after one step along `gradient` (both stacked); updates the moments. */
  update(params: tf.Tensor2D, gradient: tf.Tensor2D): tf.Tensor2D {
    const [b1, nb1, b2, nb2] = this.constants as [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar];
    const m = tf.add(tf.mul(this.m, b1), tf.mul(gradient, nb1));
    const v = tf.add(tf.mul(this.v, b2), tf.mul(tf.square(gradient), nb2));
    this.m.assign(m);
    this.v.assign(v);
    // m̂ / (√v̂ + ε) with m̂ = m / c1 and v̂ = v / c2 is m · (√c2 / c1) / (√v + ε√c2): the bias corrections become two
    // scalars instead of two divisions of the whole state (equal but for rounding).
    const c1 = 1 - this.accBeta1;
    const c2 = 1 - this.accBeta2;
    const step = tf.mul(tf.div(m, tf.add(tf.sqrt(v), tf.scalar(this.epsilon * Math.sqrt(c2)))), tf.scalar((-this.learningRate * Math.sqrt(c2)) / c1));
    this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(this.beta1));
    this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(this.beta2));
    this.iterations++;
    return tf.add(params, step) as tf.Tensor2D;
  }

  save(): OptimizerState {
    const split = (flat: Float32Array) => {
      let at = 0;
      return this.shapes.map((shape) => flat.slice(at, (at += shape.reduce((a, b) => a * b, 1))));
    };
    return {
      values: [Float32Array.of(this.iterations), ...split(this.m.dataSync() as Float32Array), ...split(this.v.dataSync() as Float32Array)],
      shapes: [[], ...this.shapes, ...this.shapes],
      accBeta: [this.accBeta1, this.accBeta2],
    };
  }

  restore(s: OptimizerState): void {
    this.iterations = s.values[0]![0]!;
    // The running powers as kept (bit-exact resumption); checkpoints made before they were kept recompute them from
    // the iteration count, as tf.train.adam's setWeights does.
    [this.accBeta1, this.accBeta2] = s.accBeta ?? [Math.fround(Math.pow(this.beta1, this.iterations + 1)), Math.fround(Math.pow(this.beta2, this.iterations + 1))];
    const join = (arrays: Float32Array[]) => {
      const out = new Float32Array(this.m.size);
      let at = 0;
      for (const a of arrays) out.set(a, (at += a.length) - a.length);
      return tf.tensor(out, this.m.shape);
    };
    const count = this.shapes.length;
    tf.tidy(() => {
      this.m.assign(join(s.values.slice(1, 1 + count)));
      this.v.assign(join(s.values.slice(1 + count, 1 + 2 * count)));
    });
  }

  dispose(): void {
    tf.dispose([...this.constants, this.m, this.v]);
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
  checkpoints?: { resumeFrom?: DictionaryCheckpoint; onCheckpoint?: (c: DictionaryCheckpoint) => Promise<void> | void },
): Promise<{ sae: SparseAutoencoder; stats: DictionaryStats; resampled: number; seconds: number; samplesPerSecond: number }> {
  const n = x.length / inputs;
  const features = Math.max(1, Math.round(inputs * s.expansion));
  const mean = new Float32Array(inputs);
  for (let i = 0; i < n; i++) for (let j = 0; j < inputs; j++) mean[j] += x[i * inputs + j]! / n;
  let variance = 0;
  for (let i = 0; i < x.length; i++) variance += (x[i]! - mean[i % inputs]!) ** 2 / n;
  const resume = checkpoints?.resumeFrom;
  const sae = resume ? SparseAutoencoder.fromBundle(resume.sae) : SparseAutoencoder.create(inputs, features, s, seed);
  const optimizer = new StackedAdam(s.learningRate, [[inputs, features], [features], [features, inputs]], [2 * inputs + 1, features]);
  const rng = new Rng(seed);
  let resampled = resume?.resampled ?? 0;
  if (resume) {
    rng.state32 = resume.rngState;
    optimizer.restore(resume.optimizer);
  }
  const all = tf.tensor2d(x, [n, inputs]);
  const steps = Math.ceil(n / s.batchSize);
  const firstEpoch = resume?.epoch ?? 0;
  const started = performance.now();
  const pause = new EventLoopPause();
  let seconds = 0;
  try {
    for (let epoch = firstEpoch; epoch < s.epochs; epoch++) {
      const order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      rng.shuffle(order);
      // Firing counts: the batches' activity masks summed as they are (one Add a step), their column sums taken once
      // an epoch; a shorter last batch adds its column sums directly.
      let firedRows = tf.zeros([s.batchSize, features]);
      let fired = tf.zeros([features]);
      let lossSum: tf.Tensor = tf.scalar(0);
      for (let step = 0; step < steps; step++) {
        const start = step * s.batchSize;
        const size = Math.min(s.batchSize, n - start);
        const full = size === s.batchSize;
        const next = tf.tidy(() => {
          // Rows by index: the wasm backend's Slice would copy all of x to JavaScript every step.
          const batch = tf.gatherND(all, tf.tensor2d(order.subarray(start, start + size), [size, 1], 'int32')) as tf.Tensor2D;
          const { loss, active } = sae.trainStep(batch, size * variance || 1, s.l1, optimizer);
          sae.normaliseDecoder();
          return [full ? tf.add(firedRows, active) : firedRows, full ? fired : tf.add(fired, columnSums(active)), tf.add(lossSum, loss)];
        });
        tf.dispose([full ? firedRows : fired, lossSum]);
        [firedRows, fired, lossSum] = next;
        await pause.maybe();
      }
      const totals = tf.tidy(() => tf.add(fired, columnSums(firedRows as tf.Tensor2D)));
      tf.dispose([firedRows, fired]);
      fired = totals;
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
        await checkpoints.onCheckpoint({ epoch: epoch + 1, resampled, rngState: rng.state32, sae: sae.toBundle(), optimizer: optimizer.save() });
      }
    }
    seconds = (performance.now() - started) / 1000;
  } finally {
    all.dispose();
    optimizer.dispose();
  }
  const samples = n * (s.epochs - firstEpoch);
  return { sae, stats: sae.stats(x), resampled, seconds, samplesPerSecond: samples / seconds };
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
