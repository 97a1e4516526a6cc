// The transformer (model kind `transformer`): a decoder-only, pre-layer-norm transformer with learned positions (the
// GPT-2 layout: Radford et al. 2019), predicting the next token at every position of a sequence. Each block's MLP
// hidden layer (`mlp0`, `mlp1`, …: dMlp neurons, GELU or ReLU) is a layer the pipeline can make legible; a neuron's
// activation is recorded at every token position. Freezing `mlpI` freezes everything that computes it (embeddings,
// blocks below, block I's attention and the MLP's input weights); block I's MLP output weights, which read the
// neurons, stay trainable. Every gradient goes through nn/ops.ts's explicit-transpose operations.
import * as tf from '@tensorflow/tfjs';
import type { Bundle } from '../store/artifacts';
import { depthOfLayer, intervene, variablesFromArrays, type Forward, type Intervention, type LanguageModel, type TransformerMeta, type TransformerSpec } from './language-model';
import { batchMatMul, dense, embed, gelu, layerNorm, readOut } from './ops';

/** A weight: its name, shape, and the depth group it belongs to (frozen when the model is frozen through that depth). */
interface Weight {
  name: string;
  shape: number[];
  group: number;
  init: 'normal' | 'zeros' | 'ones' | 'residual';
}

/** Every weight of a transformer of this spec, in a fixed order (the optimizer keeps its moments by position). */
function weightsOf(spec: TransformerSpec): Weight[] {
  const { vocabularySize: v, contextTokens: t, dModel: d, dMlp: m } = spec;
  const out: Weight[] = [
    { name: 'embedding', shape: [v, d], group: 0, init: 'normal' },
    { name: 'position', shape: [t, d], group: 0, init: 'normal' },
  ];
  spec.hidden.forEach((h, i) => {
    const block = `block${i}`;
    const w = (name: string, shape: number[], init: Weight['init'], group = i) => out.push({ name, shape, group, init });
    w(`${block}.ln1.g`, [d], 'ones');
    w(`${block}.ln1.b`, [d], 'zeros');
    for (const p of ['q', 'k', 'v']) {
      w(`${block}.attn.${p}.w`, [d, d], 'normal');
      w(`${block}.attn.${p}.b`, [d], 'zeros');
    }
    w(`${block}.attn.out.w`, [d, d], 'residual');
    w(`${block}.attn.out.b`, [d], 'zeros');
    w(`${block}.ln2.g`, [d], 'ones');
    w(`${block}.ln2.b`, [d], 'zeros');
    w(`${h.name}.w`, [d, m], 'normal');
    w(`${h.name}.b`, [m], 'zeros');
    w(`${h.name}.out.w`, [m, d], 'residual', i + 1);
    w(`${h.name}.out.b`, [d], 'zeros', i + 1);
  });
  const top = spec.hidden.length;
  out.push(
    { name: 'ln.g', shape: [d], group: top, init: 'ones' },
    { name: 'ln.b', shape: [d], group: top, init: 'zeros' },
    { name: 'output.w', shape: [d, v], group: top, init: 'normal' },
    { name: 'output.b', shape: [v], group: top, init: 'zeros' },
  );
  return out;
}

export class TransformerModel implements LanguageModel {
  private readonly layout: Weight[];

  private constructor(
    readonly meta: TransformerMeta,
    private readonly weights: Map<string, tf.Variable>,
  ) {
    this.layout = weightsOf(meta.spec);
  }

  get spec(): TransformerSpec {
    return this.meta.spec;
  }

  get inputLength(): number {
    return this.spec.contextTokens;
  }

  get positions(): number {
    return this.spec.contextTokens;
  }

  /**
   * GPT-2's initialisation: weights N(0, 0.02), the projections into the residual stream scaled by 1/√(2·layers),
   * layer-norm gains 1 and biases 0.
   */
  static create(spec: TransformerSpec, seed: number): TransformerModel {
    const weights = new Map<string, tf.Variable>();
    weightsOf(spec).forEach((w, n) => {
      const std = w.init === 'residual' ? 0.02 / Math.sqrt(2 * spec.layers) : 0.02;
      const value = w.init === 'zeros' ? tf.zeros(w.shape) : w.init === 'ones' ? tf.ones(w.shape) : tf.randomNormal(w.shape, 0, std, 'float32', seed * 1000 + n);
      weights.set(w.name, tf.variable(value));
    });
    return new TransformerModel({ spec, frozenThrough: -1 }, weights);
  }

  static fromBundle(b: Bundle<TransformerMeta>): TransformerModel {
    const weights = variablesFromArrays(
      b.arrays,
      weightsOf(b.meta.spec).map((w) => [w.name, w.shape]),
    );
    return new TransformerModel(structuredClone(b.meta), weights);
  }

  private w<R extends tf.Rank>(name: string): tf.Tensor<R> {
    return this.weights.get(name)! as unknown as tf.Tensor<R>;
  }

  forward(inputs: tf.Tensor2D, untilDepth?: undefined, interventions?: Intervention[]): Forward;
  forward(inputs: tf.Tensor2D, untilDepth: number, interventions?: Intervention[]): Pick<Forward, 'hidden'>;
  forward(inputs: tf.Tensor2D, untilDepth?: number, interventions: Intervention[] = []): Forward | Pick<Forward, 'hidden'> {
    const [batch, length] = inputs.shape;
    const { dModel: d, heads } = this.spec;
    const headSize = d / heads;
    const rows = batch * length;
    const positionIds = new Int32Array(rows);
    for (let r = 0; r < rows; r++) positionIds[r] = r % length;
    // Row r of x is position r % length of sequence ⌊r / length⌋.
    let x = tf.add(embed(this.w('embedding'), inputs.reshape([rows]) as tf.Tensor1D), embed(this.w('position'), tf.tensor1d(positionIds, 'int32'))) as tf.Tensor2D;
    // Causal mask: position i attends to positions ≤ i (padding comes last, so no real position attends to it).
    const future = new Float32Array(length * length);
    for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) future[i * length + j] = -1e9;
    const mask = tf.tensor2d(future, [length, length]);
    const toHeads = (t: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(t, [batch, length, heads, headSize]), [0, 2, 1, 3]), [batch * heads, length, headSize]) as tf.Tensor3D;
    const hidden: tf.Tensor2D[] = [];
    for (const [depth, layer] of this.spec.hidden.entries()) {
      const block = `block${depth}`;
      const h = layerNorm(x, this.w(`${block}.ln1.g`), this.w(`${block}.ln1.b`));
      const project = (p: string) => dense(h, this.w(`${block}.attn.${p}.w`), this.w(`${block}.attn.${p}.b`));
      // q is scaled by 1/√headSize before the product: the same scores, one multiplication over [rows, d] instead of over [batch·heads, length, length].
      const q = toHeads(tf.mul(project('q'), 1 / Math.sqrt(headSize)) as tf.Tensor2D);
      const [k, v] = ['k', 'v'].map((p) => toHeads(project(p))) as [tf.Tensor3D, tf.Tensor3D];
      const scores = tf.add(batchMatMul(q, tf.transpose(k, [0, 2, 1])), mask);
      const mixed = batchMatMul(tf.softmax(scores) as tf.Tensor3D, v);
      const merged = tf.reshape(tf.transpose(tf.reshape(mixed, [batch, heads, length, headSize]), [0, 2, 1, 3]), [rows, d]) as tf.Tensor2D;
      x = tf.add(x, dense(merged, this.w(`${block}.attn.out.w`), this.w(`${block}.attn.out.b`)));
      const pre = dense(layerNorm(x, this.w(`${block}.ln2.g`), this.w(`${block}.ln2.b`)), this.w(`${layer.name}.w`), this.w(`${layer.name}.b`));
      let neurons = this.spec.activation === 'gelu' ? gelu(pre) : tf.relu(pre);
      for (const i of interventions) if (i.depth === depth) neurons = intervene(neurons, layer.width, i);
      hidden.push(neurons);
      if (untilDepth === depth) return { hidden };
      x = tf.add(x, dense(neurons, this.w(`${layer.name}.out.w`), this.w(`${layer.name}.out.b`)));
    }
    const top = layerNorm(x, this.w('ln.g'), this.w('ln.b'));
    return { hidden, logits: dense(top, this.w('output.w'), this.w('output.b')) };
  }

  depthOf(layerName: string): number {
    return depthOfLayer(this.spec, layerName);
  }

  trainableVariables(aboveDepth = this.meta.frozenThrough): tf.Variable[] {
    const from = Math.max(aboveDepth, this.meta.frozenThrough);
    return this.layout.filter((w) => w.group > from).map((w) => this.weights.get(w.name)!);
  }

  freezeThrough(depth: number): void {
    this.meta.frozenThrough = Math.max(this.meta.frozenThrough, depth);
  }

  layerWeights(depth: number): { w: Float32Array; b: Float32Array } {
    const name = this.spec.hidden[depth]!.name;
    return { w: this.weights.get(`${name}.w`)!.dataSync() as Float32Array, b: this.weights.get(`${name}.b`)!.dataSync() as Float32Array };
  }

  incomingWeights(depth: number): Float32Array {
    const into = this.weights.get(`${this.spec.hidden[depth]!.name}.w`)!;
    if (depth === 0) return into.dataSync() as Float32Array;
    return readOut(() => tf.matMul(this.weights.get(`${this.spec.hidden[depth - 1]!.name}.out.w`)! as tf.Tensor2D, into as tf.Tensor2D));
  }

  namedWeights(): { name: string; shape: number[]; values: Float32Array }[] {
    return this.layout.map((w) => ({ name: w.name, shape: w.shape, values: this.weights.get(w.name)!.dataSync() as Float32Array }));
  }

  toBundle(): Bundle<TransformerMeta> {
    return { meta: structuredClone(this.meta), arrays: Object.fromEntries(this.namedWeights().map((w) => [w.name, w.values])) };
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}
