// The next-word model whose hidden neurons are made legible: word embeddings of a context window, named ReLU hidden
// layers, and a softmax over the vocabulary. Each hidden neuron has one activation per token position (the window
// that ends at that token). Owns initialisation, the forward pass, which variables are frozen, and (de)serialisation.
import * as tf from '@tensorflow/tfjs';
import type { Bundle } from '../store/artifacts';
import { InvalidInputError } from '../data/errors';
import { dense, embed } from './ops';

export interface ModelSpec {
  vocabularySize: number;
  contextWords: number;
  embeddingSize: number;
  hidden: { name: string; width: number }[];
}

export interface ModelMeta {
  spec: ModelSpec;
  /** Depth of the highest frozen hidden layer; that layer and everything below it (embeddings too) are frozen. -1: none. */
  frozenThrough: number;
}

interface DenseParams {
  w: tf.Variable;
  b: tf.Variable;
}

/**
 * Units of one hidden layer whose activations are replaced: by zero (zero ablation), each by its own constant (its
 * mean, for mean ablation), or by per-example values (substitution: a label's simulation in the neuron's place).
 */
export interface Intervention {
  depth: number;
  units: number[];
  /** The value each listed unit is held at, in the order of `units`; default 0 for all. */
  values?: number[];
  /** Per-example values instead, [batch × units.length] row-major in the order of `units` (the batch's rows only). */
  rows?: tf.Tensor2D | Float32Array;
}

export interface Forward {
  /** Activations of each hidden layer, [batch, width]. */
  hidden: tf.Tensor2D[];
  logits: tf.Tensor2D;
}

export class NextWordModel {
  private constructor(
    readonly meta: ModelMeta,
    readonly embedding: tf.Variable,
    readonly layers: DenseParams[],
    readonly output: DenseParams,
  ) {}

  get spec(): ModelSpec {
    return this.meta.spec;
  }

  static create(spec: ModelSpec, seed: number): NextWordModel {
    let n = 0;
    const glorot = (rows: number, cols: number) => {
      const limit = Math.sqrt(6 / (rows + cols));
      return tf.randomUniform([rows, cols], -limit, limit, 'float32', seed * 1000 + n++);
    };
    const param = (rows: number, cols: number): DenseParams => ({ w: tf.variable(glorot(rows, cols)), b: tf.variable(tf.zeros([cols])) });
    const embedding = tf.variable(tf.randomNormal([spec.vocabularySize, spec.embeddingSize], 0, 0.1, 'float32', seed * 1000 + n++));
    let width = spec.contextWords * spec.embeddingSize;
    const layers = spec.hidden.map((h) => {
      const p = param(width, h.width);
      width = h.width;
      return p;
    });
    return new NextWordModel({ spec, frozenThrough: -1 }, embedding, layers, param(width, spec.vocabularySize));
  }

  /**
   * windows: [batch, contextWords] token ids. With `untilDepth`, stops after that hidden layer (no logits). With
   * `interventions`, the listed units of each named hidden layer are replaced (see Intervention) before the layers
   * above read them; the returned activations are the replaced ones.
   */
  forward(windows: tf.Tensor2D, untilDepth?: undefined, interventions?: Intervention[]): Forward;
  forward(windows: tf.Tensor2D, untilDepth: number, interventions?: Intervention[]): Pick<Forward, 'hidden'>;
  forward(windows: tf.Tensor2D, untilDepth?: number, interventions: Intervention[] = []): Forward | Pick<Forward, 'hidden'> {
    const [batch, context] = windows.shape;
    let x = embed(this.embedding as tf.Tensor2D, windows.reshape([batch * context])).reshape([batch, context * this.spec.embeddingSize]) as tf.Tensor2D;
    const hidden: tf.Tensor2D[] = [];
    for (const [depth, l] of this.layers.slice(0, untilDepth === undefined ? undefined : untilDepth + 1).entries()) {
      x = tf.relu(dense(x, l.w as tf.Tensor2D, l.b as tf.Tensor1D));
      for (const i of interventions) if (i.depth === depth) x = intervene(x, this.spec.hidden[depth]!.width, i);
      hidden.push(x);
    }
    if (untilDepth !== undefined) return { hidden };
    return { hidden, logits: dense(x, this.output.w as tf.Tensor2D, this.output.b as tf.Tensor1D) };
  }

  depthOf(layerName: string): number {
    const depth = this.spec.hidden.findIndex((h) => h.name === layerName);
    if (depth < 0) throw new InvalidInputError(`the model has no hidden layer "${layerName}" (it has ${this.spec.hidden.map((h) => h.name).join(', ')})`);
    return depth;
  }

  /** Variables that training may change: everything above the frozen prefix, optionally only above `aboveDepth`. */
  trainableVariables(aboveDepth = this.meta.frozenThrough): tf.Variable[] {
    const from = Math.max(aboveDepth, this.meta.frozenThrough);
    const vars: tf.Variable[] = from < 0 ? [this.embedding] : [];
    this.layers.forEach((l, depth) => {
      if (depth > from) vars.push(l.w, l.b);
    });
    vars.push(this.output.w, this.output.b);
    return vars;
  }

  /** Freezes hidden layer `depth` and everything below it. */
  freezeThrough(depth: number): void {
    this.meta.frozenThrough = Math.max(this.meta.frozenThrough, depth);
  }

  /** Copies of a hidden layer's weights and biases. */
  layerWeights(depth: number): { w: Float32Array; b: Float32Array } {
    const l = this.layers[depth]!;
    return { w: l.w.dataSync() as Float32Array, b: l.b.dataSync() as Float32Array };
  }

  toBundle(): Bundle<ModelMeta> {
    const arrays: Bundle['arrays'] = { embedding: this.embedding.dataSync() as Float32Array };
    this.layers.forEach((l, i) => {
      arrays[`${this.spec.hidden[i]!.name}.w`] = l.w.dataSync() as Float32Array;
      arrays[`${this.spec.hidden[i]!.name}.b`] = l.b.dataSync() as Float32Array;
    });
    arrays['output.w'] = this.output.w.dataSync() as Float32Array;
    arrays['output.b'] = this.output.b.dataSync() as Float32Array;
    return { meta: structuredClone(this.meta), arrays };
  }

  static fromBundle(b: Bundle<ModelMeta>): NextWordModel {
    const { spec } = b.meta;
    const get = (name: string, shape: number[]) => {
      const a = b.arrays[name];
      const size = shape.reduce((x, y) => x * y, 1);
      if (!(a instanceof Float32Array) || a.length !== size)
        throw new InvalidInputError(`model checkpoint: "${name}" should hold ${size} float32 values for shape [${shape}], found ${a ? a.length : 'nothing'}`);
      return tf.variable(tf.tensor(a, shape));
    };
    let width = spec.contextWords * spec.embeddingSize;
    const layers = spec.hidden.map((h) => {
      const p = { w: get(`${h.name}.w`, [width, h.width]), b: get(`${h.name}.b`, [h.width]) };
      width = h.width;
      return p;
    });
    const output = { w: get('output.w', [width, spec.vocabularySize]), b: get('output.b', [spec.vocabularySize]) };
    return new NextWordModel(structuredClone(b.meta), get('embedding', [spec.vocabularySize, spec.embeddingSize]), layers, output);
  }

  dispose(): void {
    this.embedding.dispose();
    for (const l of [...this.layers, this.output]) {
      l.w.dispose();
      l.b.dispose();
    }
  }
}

/** x [batch, width] with the intervention's units replaced: kept columns × 1, replaced ones × 0 plus their values. */
function intervene(x: tf.Tensor2D, width: number, i: Intervention): tf.Tensor2D {
  const keep = new Float32Array(width).fill(1);
  for (const u of i.units) keep[u] = 0;
  const kept = tf.mul(x, tf.tensor1d(keep));
  if (!i.rows) {
    const held = new Float32Array(width);
    i.units.forEach((u, j) => (held[u] = i.values?.[j] ?? 0));
    return tf.add(kept, tf.tensor1d(held));
  }
  // Per-example values [batch, units] placed in their columns by a one-hot [units, width] matrix.
  const rows = i.rows instanceof Float32Array ? tf.tensor2d(i.rows, [x.shape[0], i.units.length]) : i.rows;
  const place = new Float32Array(i.units.length * width);
  i.units.forEach((u, j) => (place[j * width + u] = 1));
  return tf.add(kept, tf.matMul(rows, tf.tensor2d(place, [i.units.length, width])));
}
