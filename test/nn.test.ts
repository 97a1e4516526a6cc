// The model's fast path and training loop: custom gradients equal tfjs's own, the alignment loss ignores free
// neurons, freezing keeps weights fixed, and the tensor count stays constant across training steps.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../nn/backend';
import { MlpModel } from '../nn/mlp';
import { crossEntropy, dense, embed } from '../nn/ops';
import { alignmentLoss, train, type TrainCheckpoint } from '../nn/train';

function assertClose(a: tf.Tensor, b: tf.Tensor, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= tol * (1 + Math.abs(y[i]!)), `element ${i}: ${x[i]} vs ${y[i]}`);
}

const spec = { vocabularySize: 50, contextWords: 3, embeddingSize: 4, hidden: [{ name: 'h1', width: 6 }, { name: 'h2', width: 5 }] };

function examples(n: number, seed: number) {
  const windows = tf.tidy(() => tf.randomUniform([n, 3], 0, 50, 'int32', seed).dataSync() as Int32Array);
  // A learnable task: the next word is the first context word, shifted.
  const targets = Int32Array.from({ length: n }, (_, i) => (windows[i * 3]! + 1) % 50);
  return { inputs: windows, targets };
}

describe('nn', () => {
  before(async () => {
    await initBackend();
  });

  it('dense, embed and crossEntropy give the same values and gradients as tfjs built-ins', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([7, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
      const w = tf.randomNormal([5, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
      const b = tf.randomNormal([3], 0, 1, 'float32', 3) as tf.Tensor1D;
      const ids = tf.tensor1d([1, 0, 4, 1, 2, 3, 4], 'int32');
      const table = tf.randomNormal([5, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
      const targets = tf.tensor1d([1, 0, 2, 1, 2, 0, 2], 'int32');
      const fast = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, tt: tf.Tensor) =>
        crossEntropy(tf.add(dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D), embed(tt as tf.Tensor2D, ids)) as tf.Tensor2D, targets);
      const slow = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, tt: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(tf.oneHot(targets, 3), tf.add(tf.add(tf.matMul(xx, ww), bb), tf.matMul(tf.oneHot(ids, 5).toFloat(), tt))) as tf.Scalar;
      const f = tf.valueAndGrads((a: tf.Tensor, bw: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => fast(a, bw, c, d));
      const s = tf.valueAndGrads((a: tf.Tensor, bw: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => slow(a, bw, c, d));
      const rf = f([x, w, b, table]);
      const rs = s([x, w, b, table]);
      assertClose(rf.value, rs.value);
      rf.grads.forEach((g, i) => assertClose(g, rs.grads[i]!));
    });
  });

  it('dense gives the built-in gradients for a layer much wider than its input too', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([9, 4], 0, 1, 'float32', 7) as tf.Tensor2D;
      const w = tf.randomNormal([4, 17], 0, 1, 'float32', 8) as tf.Tensor2D;
      const b = tf.randomNormal([17], 0, 1, 'float32', 9) as tf.Tensor1D;
      const loss = (layer: (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.Tensor) => (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(layer(xx, ww, bb))) as tf.Scalar;
      const fast = tf.grads(loss((xx, ww, bb) => dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D)))([x, w, b]);
      const slow = tf.grads(loss((xx, ww, bb) => tf.add(tf.matMul(xx, ww), bb)))([x, w, b]);
      fast.forEach((g, i) => assertClose(g, slow[i]!));
    });
  });

  it('free neurons take no part in the alignment loss', () => {
    tf.tidy(() => {
      const h = tf.randomNormal([4, 5], 0, 1, 'float32', 5) as tf.Tensor2D;
      const targets = tf.randomNormal([4, 5], 0, 1, 'float32', 6) as tf.Tensor2D;
      const weights = tf.tile(tf.tensor2d([[1, 0, 2, 0, 0]]), [4, 1]); // units 0 and 2 legible, 1, 3, 4 free
      const grad = tf.grad((x: tf.Tensor) => alignmentLoss(x as tf.Tensor2D, targets, weights))(h).arraySync() as number[][];
      for (const row of grad) {
        assert.ok(row[0] !== 0 && row[2] !== 0, 'legible neurons have a gradient');
        assert.deepEqual([row[1], row[3], row[4]].map(Math.abs), [0, 0, 0]);
      }
      // Changing a free neuron's activation or target changes nothing.
      const base = alignmentLoss(h, targets, weights).dataSync()[0];
      const moved = alignmentLoss(tf.add(h, tf.tensor1d([0, 9, 0, 9, 9])) as tf.Tensor2D, targets, weights).dataSync()[0];
      assert.equal(moved, base);
    });
  });

  it('training learns, and freezing a layer keeps it and everything below it fixed', async () => {
    const model = MlpModel.create(spec, 1);
    const data = examples(2048, 1);
    const first = await train(model, data, { epochs: 1, batchSize: 64, learningRate: 0.02, seed: 1, trainable: model.trainableVariables() });
    const later = await train(model, data, { epochs: 4, batchSize: 64, learningRate: 0.02, seed: 2, trainable: model.trainableVariables() });
    assert.ok(later.taskLoss < first.taskLoss * 0.8, `loss fell from ${first.taskLoss} to ${later.taskLoss}`);

    model.freezeThrough(0);
    const h1 = model.layerWeights(0);
    const h2 = model.layerWeights(1);
    const emb = model.embedding.dataSync().slice();
    await train(model, data, { epochs: 1, batchSize: 64, learningRate: 0.02, seed: 3, trainable: model.trainableVariables() });
    assert.deepEqual(model.layerWeights(0), h1);
    assert.deepEqual(model.embedding.dataSync(), emb);
    assert.notDeepEqual(model.layerWeights(1), h2);
    model.dispose();
  });

  it('keeps the tensor count constant across hundreds of training steps', async () => {
    const model = MlpModel.create(spec, 2);
    const data = examples(4096, 2);
    const counts: number[] = [];
    await train(model, data, {
      epochs: 4,
      batchSize: 32,
      learningRate: 0.01,
      seed: 1,
      trainable: model.trainableVariables(),
      progressEverySteps: 32,
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    assert.ok(counts.length >= 16, `${counts.length} reports over 512 steps`);
    assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts: ${counts.join(' ')}`);
    model.dispose();
  });

  it('a run resumed from an epoch checkpoint ends exactly where an uninterrupted run ends', async () => {
    const data = examples(1024, 4);
    const alignment = { depth: 0, examples: examples(512, 5), targets: new Float32Array(512 * 6).fill(0.5), weights: new Float32Array(512 * 6).fill(0.1), weight: 2 };
    const options = { epochs: 3, batchSize: 64, learningRate: 0.01, seed: 9, alignment };
    const whole = MlpModel.create(spec, 4);
    let saved: { model: ReturnType<MlpModel['toBundle']>; checkpoint: TrainCheckpoint } | undefined;
    const full = await train(whole, data, {
      ...options,
      trainable: whole.trainableVariables(),
      onCheckpoint: (c) => {
        if (c.epoch === 1) saved = { model: whole.toBundle(), checkpoint: c };
      },
    });
    assert.ok(saved, 'a checkpoint after epoch 1');
    const resumed = MlpModel.fromBundle(saved.model);
    const rest = await train(resumed, data, { ...options, trainable: resumed.trainableVariables(), resumeFrom: saved.checkpoint });
    assert.deepEqual(resumed.toBundle().arrays, whole.toBundle().arrays);
    assert.equal(rest.taskLoss, full.taskLoss);
    assert.equal(rest.steps, full.steps);
    whole.dispose();
    resumed.dispose();
  });

  it('a model survives a round trip through its bundle', () => {
    const model = MlpModel.create(spec, 3);
    model.freezeThrough(1);
    const copy = MlpModel.fromBundle(model.toBundle());
    assert.deepEqual(copy.meta, model.meta);
    assert.deepEqual(copy.layerWeights(1), model.layerWeights(1));
    const bundle = model.toBundle();
    assert.throws(() => MlpModel.fromBundle({ ...bundle, arrays: { ...bundle.arrays, embedding: new Float32Array(3) } }), /model checkpoint: "embedding" should hold 200 float32 values for shape \[50,4\], found 3/);
    model.dispose();
    copy.dispose();
  });
});
