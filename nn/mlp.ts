// The window MLP (model kind `mlp`): word embeddings of a context window, named ReLU hidden
// layers, and a softmax over the vocabulary. Each hidden neuron has one activation per token position (the window
// that ends at that token). Owns initialisation, the forward pass, which variables are frozen, and (de)serialisation.
import * as tf from '@tensorflow/tfjs';
import type { Bundle } from '../store/artifacts';
import { InvalidInputError } from '../data/errors';
import { depthOfLayer, intervene, type Forward, type Intervention, type LanguageModel, type MlpMeta, type MlpSpec } from './language-model';
import { dense, embed } from './ops';

interface DenseParams {
  w: tf.Variable;
  b: tf.Variable;
}

export class MlpModel implements LanguageModel {
  readonly positions = 1;

  private constructor(
    readonly meta: MlpMeta,
    readonly embedding: tf.Variable,
    readonly layers: DenseParams[],
    readonly output: DenseParams,
  ) {}

  get spec(): MlpSpec {
    return this.meta.spec;
  }

  get inputLength(): number {
    return this.meta.spec.contextWords;
  }

  static create(spec: MlpSpec, seed: number): MlpModel {
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
    return new MlpModel({ spec: { ...spec, kind: 'mlp' }, frozenThrough: -1 }, embedding, layers, param(width, spec.vocabularySize));
  }

  /**
   * windows: [batch, contextWords] token ids. With `untilDepth`, stops after that hidden layer (no logits). With
   * `interventions`, the listed units of each named hidden layer are replaced (see Intervention) before the layers
   * above read them; the returned activations are the replaced ones.
   */
  forward(inputs: tf.Tensor2D, untilDepth?: undefined, interventions?: Intervention[]): Forward;
  forward(inputs: tf.Tensor2D, untilDepth: number, interventions?: Intervention[]): Pick<Forward, 'hidden'>;
  forward(inputs: tf.Tensor2D, untilDepth?: number, interventions: Intervention[] = []): Forward | Pick<Forward, 'hidden'> {
    const [batch, context] = inputs.shape;
    let x = embed(this.embedding as tf.Tensor2D, inputs.reshape([batch * context])).reshape([batch, context * this.spec.embeddingSize]) as tf.Tensor2D;
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
    return depthOfLayer(this.spec, layerName);
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

  incomingWeights(depth: number): Float32Array {
    return this.layers[depth]!.w.dataSync() as Float32Array;
  }

  namedWeights(): { name: string; shape: number[]; values: Float32Array }[] {
    const all: [string, tf.Variable][] = [['embedding', this.embedding]];
    this.layers.forEach((l, i) => all.push([`${this.spec.hidden[i]!.name}.w`, l.w], [`${this.spec.hidden[i]!.name}.b`, l.b]));
    all.push(['output.w', this.output.w], ['output.b', this.output.b]);
    return all.map(([name, v]) => ({ name, shape: v.shape, values: v.dataSync() as Float32Array }));
  }

  toBundle(): Bundle<MlpMeta> {
    const arrays: Bundle['arrays'] = Object.fromEntries(this.namedWeights().map((w) => [w.name, w.values]));
    return { meta: structuredClone(this.meta), arrays };
  }

  static fromBundle(b: Bundle<MlpMeta>): MlpModel {
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
    return new MlpModel({ ...structuredClone(b.meta), spec: { ...b.meta.spec, kind: 'mlp' } }, get('embedding', [spec.vocabularySize, spec.embeddingSize]), layers, output);
  }

  dispose(): void {
    this.embedding.dispose();
    for (const l of [...this.layers, this.output]) {
      l.w.dispose();
      l.b.dispose();
    }
  }
}
