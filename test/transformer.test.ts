// The transformer model kind: its custom gradients against tfjs's own, causality and padding (a token's activations
// depend only on the tokens before it), learning, freezing (everything that computes a frozen MLP layer stays as it
// was), virtual incoming weights, and a checkpoint that round-trips.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../nn/backend';
import { createModel, modelFromBundle, type TransformerSpec } from '../nn/language-model';
import { batchMatMul, crossEntropy, gelu, layerNorm } from '../nn/ops';
import { evaluate, recordLayer, train } from '../nn/train';

const spec: TransformerSpec = {
  kind: 'transformer',
  vocabularySize: 20,
  contextTokens: 8,
  dModel: 16,
  heads: 2,
  dMlp: 12,
  layers: 2,
  activation: 'gelu',
  hidden: [
    { name: 'mlp0', width: 12 },
    { name: 'mlp1', width: 12 },
  ],
};

/** Sequences of 3 to 8 tokens following a simple rule (each token two above the last, mod 15), padded to 8. */
function sequences(m: number) {
  const t = spec.contextTokens;
  const inputs = new Int32Array(m * t);
  const targets = new Int32Array(m * t).fill(-1);
  for (let r = 0; r < m; r++) {
    const length = 3 + (r % 6);
    for (let p = 0; p < length; p++) inputs[r * t + p] = 3 + ((r % 7) + 2 * p) % 15;
    for (let p = 0; p < length; p++) targets[r * t + p] = p + 1 < length ? inputs[r * t + p + 1]! : 1;
  }
  return { inputs, targets };
}

const maxDifference = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;

describe('transformer', () => {
  before(async () => {
    await initBackend();
  });

  it("layer norm, GELU, batched matmul and masked cross-entropy have tfjs's own gradients", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
      const g = tf.randomNormal([7], 0, 1, 'float32', 2) as tf.Tensor1D;
      const b = tf.randomNormal([7], 0, 1, 'float32', 3) as tf.Tensor1D;
      const w = tf.randomNormal([5, 7], 0, 1, 'float32', 4);
      const plainNorm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const c = tf.sub(x, tf.mean(x, 1, true));
        return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(tf.mean(tf.square(c), 1, true), 1e-5))), g), b);
      };
      const ours = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D), w)))([x, g, b]);
      const theirs = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(plainNorm(x, g, b), w)))([x, g, b]);
      ours.forEach((t, i) => assert.ok(maxDifference(t, theirs[i]!) < 1e-5, `layer norm gradient ${i}`));

      const plainGelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
      assert.ok(maxDifference(gelu(x), plainGelu(x)) < 1e-6);
      assert.ok(maxDifference(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(gelu(x as tf.Tensor2D), w)))(x), tf.grad((x: tf.Tensor) => tf.sum(tf.mul(plainGelu(x), w)))(x)) < 1e-5);

      const p = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 5) as tf.Tensor3D;
      const q = tf.randomNormal([3, 5, 6], 0, 1, 'float32', 6) as tf.Tensor3D;
      const v = tf.randomNormal([3, 4, 6], 0, 1, 'float32', 7);
      const bm = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(batchMatMul(a as tf.Tensor3D, b as tf.Tensor3D), v)))([p, q]);
      const mm = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D), v)))([p, q]);
      bm.forEach((t, i) => assert.ok(maxDifference(t, mm[i]!) < 1e-4, `batched matmul gradient ${i}`));

      // Masked rows take no part: the loss is the mean over the others, and their gradient is zero.
      const logits = tf.randomNormal([4, 6], 0, 1, 'float32', 8) as tf.Tensor2D;
      const targets = tf.tensor1d([1, 0, 5, 2], 'int32');
      const mask = tf.tensor1d([1, 0, 1, 1]);
      const plainLoss = (l: tf.Tensor) => tf.div(tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(l), tf.oneHot(targets, 6)), 1), mask))), 3);
      assert.ok(Math.abs(crossEntropy(logits, targets, mask).dataSync()[0]! - plainLoss(logits).dataSync()[0]!) < 1e-5);
      const grad = tf.grad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, targets, mask))(logits);
      assert.ok(maxDifference(grad, tf.grad(plainLoss)(logits)) < 1e-5);
    });
  });

  it('records one activation per real token, each depending only on the tokens before it', async () => {
    const model = createModel(spec, 1);
    try {
      const data = sequences(10);
      const real = data.targets.filter((t) => t >= 0).length;
      assert.equal((await recordLayer(model, data, 1)).length, real * 12);
      // Position 3 of sequence 0 changes: positions 0-2 keep their activations, position 3 does not.
      const one = { inputs: data.inputs.slice(0, 8), targets: data.targets.slice(0, 8) };
      const changed = { inputs: one.inputs.slice(), targets: one.targets };
      changed.inputs[2] = 17;
      const a = await recordLayer(model, one, 1);
      const b = await recordLayer(model, changed, 1);
      assert.deepEqual(a.subarray(0, 2 * 12), b.subarray(0, 2 * 12));
      assert.notDeepEqual(a.subarray(2 * 12, 3 * 12), b.subarray(2 * 12, 3 * 12));
      // A sequence's activations do not depend on the sequences batched with it.
      const alone = await recordLayer(model, one, 0);
      const batched = await recordLayer(model, data, 0);
      assert.ok(alone.every((x, i) => Math.abs(x - batched[i]!) < 1e-5));
    } finally {
      model.dispose();
    }
  });

  it('learns next tokens, keeps a frozen layer and what computes it, and round-trips through a bundle', async () => {
    const model = createModel(spec, 2);
    try {
      const data = sequences(200);
      const before = (await evaluate(model, data)).loss;
      await train(model, data, { epochs: 10, batchSize: 16, learningRate: 0.01, seed: 1, trainable: model.trainableVariables() });
      const after = await evaluate(model, data);
      assert.ok(after.loss < before / 2, `loss ${before} → ${after.loss}`);
      assert.ok(after.accuracy > 0.5, `accuracy ${after.accuracy}`);

      model.freezeThrough(0);
      const mlp0 = await recordLayer(model, data, 0);
      const weights0 = model.layerWeights(0);
      const output0 = model.namedWeights().find((w) => w.name === 'mlp0.out.w')!.values;
      await train(model, data, { epochs: 1, batchSize: 16, learningRate: 0.01, seed: 2, trainable: model.trainableVariables() });
      assert.deepEqual(await recordLayer(model, data, 0), mlp0);
      assert.deepEqual(model.layerWeights(0), weights0);
      assert.notDeepEqual(model.namedWeights().find((w) => w.name === 'mlp0.out.w')!.values, output0, 'the weights reading a frozen layer keep training');

      // Virtual weights from mlp0 to mlp1: W_out(mlp0) · W_in(mlp1).
      const incoming = model.incomingWeights(1);
      assert.equal(incoming.length, 12 * 12);
      const named = new Map(model.namedWeights().map((w) => [w.name, w.values]));
      let expected = 0;
      for (let k = 0; k < 16; k++) expected += named.get('mlp0.out.w')![3 * 16 + k]! * named.get('mlp1.w')![k * 12 + 5]!;
      assert.ok(Math.abs(incoming[3 * 12 + 5]! - expected) < 1e-5);

      const copy = modelFromBundle(model.toBundle());
      try {
        assert.equal((await evaluate(copy, data)).loss, (await evaluate(model, data)).loss);
        assert.equal(copy.meta.frozenThrough, 0);
      } finally {
        copy.dispose();
      }
    } finally {
      model.dispose();
    }
  });
});
