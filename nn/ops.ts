// The fast differentiable operations Legible's models are built from. tfjs's built-in gradients of matMul use the
// transposed forms (transposeA / transposeB), which run 10 to 40 times slower than a plain matMul on the wasm
// backend; these custom gradients transpose explicitly instead, which trains about 8x faster. The embedding's
// gradient avoids UnsortedSegmentSum, which the wasm backend lacks.
import * as tf from '@tensorflow/tfjs';

/** tf.customGrad, typed for functions with named tensor parameters (its own typing takes one rest parameter). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const customGrad = (f: (...args: any[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }) =>
  tf.customGrad(f as Parameters<typeof tf.customGrad>[0]);

/** x·w + b, with gradients computed through explicit transposes. */
export const dense = customGrad((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
    gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(ws!) as tf.Tensor2D),
      tf.matMul(tf.transpose(xs!) as tf.Tensor2D, dy as tf.Tensor2D),
      tf.sum(dy, 0),
    ],
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * Rows of `table` for each id in `ids` (flat [n]), as [n, dim]. Where the backend has UnsortedSegmentSum (tfjs-node),
 * tfjs's own gather gradient is used. The wasm backend lacks it, and a one-hot matMul costs as much as the rest of a
 * training step together, so there the gradient is summed row by row in JavaScript: n·dim additions.
 */
export function embed(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (tf.getKernel('UnsortedSegmentSum', tf.getBackend())) return tf.gather(table, ids);
  const [rows, dim] = table.shape;
  const op = customGrad((t: tf.Tensor, i: tf.Tensor, save: tf.GradSaveFunc) => {
    save([i]);
    return {
      value: tf.gather(t, i),
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => {
        const idx = saved!.dataSync();
        const g = dy.dataSync();
        const sum = new Float32Array(rows * dim);
        for (let k = 0; k < idx.length; k++) {
          const to = idx[k]! * dim;
          const from = k * dim;
          for (let j = 0; j < dim; j++) sum[to + j] += g[from + j]!;
        }
        return [tf.tensor2d(sum, [rows, dim]), tf.zerosLike(saved!)];
      },
    };
  }) as (t: tf.Tensor2D, i: tf.Tensor1D) => tf.Tensor2D;
  return op(table, ids);
}

/**
 * Mean cross-entropy of logits [batch, classes] against target ids [batch]. Built on the backend's fused softmax
 * (wasm's elementwise exp, which logSoftmax uses, is several times slower), with the gradient (softmax - onehot)/batch.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const [batch, classes] = logits.shape;
  const onehot = tf.cast(tf.oneHot(targets, classes), 'float32');
  const op = customGrad((l: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(l);
    save([p, onehot]);
    const picked = tf.maximum(tf.sum(tf.mul(p, onehot), 1), 1e-30);
    return {
      value: tf.div(tf.neg(tf.sum(tf.log(picked))), batch),
      gradFunc: (dy: tf.Tensor, [ps, oh]: tf.Tensor[]) => tf.mul(tf.sub(ps!, oh!), tf.div(dy, batch)),
    };
  }) as (l: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}

/**
 * Keeps each row's k largest positive values and zeroes the rest (the TopK sparse autoencoder's activation). The
 * gradient passes through the kept entries only; tfjs's topk has no gradient of its own.
 */
export function topKRelu(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [rows, cols] = pre.shape;
  const op = customGrad((p: tf.Tensor, save: tf.GradSaveFunc) => {
    const threshold = tf.topk(p, Math.min(k, cols)).values.slice([0, Math.min(k, cols) - 1], [rows, 1]);
    const keep = tf.cast(tf.logicalAnd(tf.greaterEqual(p, threshold), tf.greater(p, 0)), 'float32');
    save([keep]);
    return { value: tf.mul(p, keep), gradFunc: (dy: tf.Tensor, [kept]: tf.Tensor[]) => tf.mul(dy, kept!) };
  }) as (p: tf.Tensor2D) => tf.Tensor2D;
  return op(pre);
}

/**
 * The values of the tensor `compute` makes, with its intermediates disposed. (Returning a large typed array from
 * tf.tidy is slow: tidy walks it element by element looking for tensors.)
 */
export function readOut(compute: () => tf.Tensor): Float32Array {
  const t = tf.tidy(compute);
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}
