// The fast differentiable operations Legible's models are built from. tfjs's built-in gradients of matMul use the
// transposed forms (transposeA / transposeB), which run 10 to 40 times slower than a plain matMul on the wasm
// backend; these custom gradients transpose explicitly instead, which trains about 8x faster. Column sums (bias
// gradients) are a ones-row matMul, faster than the wasm backend's axis-0 Sum (which transposes first); the
// embedding's gradient is a ScatterNd where the backend lacks UnsortedSegmentSum (wasm). The transformer's batched
// matMul, layer norm and GELU have gradients written out the same way. Nothing here copies tensors to JavaScript.
import * as tf from '@tensorflow/tfjs';

/** tf.customGrad, typed for functions with named tensor parameters (its own typing takes one rest parameter). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const customGrad = (f: (...args: any[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] }) =>
  tf.customGrad(f as Parameters<typeof tf.customGrad>[0]);

/** Sum over the rows of m [rows, cols], as [cols]: a ones-row matMul (the wasm backend's axis-0 Sum transposes first). */
export function columnSums(m: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(tf.ones([1, m.shape[0]]) as tf.Tensor2D, m), [m.shape[1]]);
}

/**
 * x·w + b, with gradients computed through explicit transposes: dx = dy·wᵀ, dw = xᵀ·dy, db = column sums of dy.
 * (The weight gradient as (dyᵀ·x)ᵀ for wide layers, once used here, costs more: transposing dy [rows, 2000] took
 * longer than the matMul itself; measured in bench/training.ts, dropping it raised the demo's loops from 35% to 48%
 * of the matmul ceiling.)
 */
export const dense = customGrad((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
    gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => {
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, tf.transpose(ws!) as tf.Tensor2D), tf.matMul(tf.transpose(xs!) as tf.Tensor2D, g), columnSums(g)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * Batched a·b for a [batch, m, k] and b [batch, k, n], as [batch, m, n], with gradients through explicit transposes
 * (dy·bᵀ and aᵀ·dy): tfjs's own BatchMatMul gradient uses the slow transposed forms. Attention's scores and mixing.
 */
export const batchMatMul = customGrad((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: tf.Tensor, [as, bs]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor3D, tf.transpose(bs!, [0, 2, 1]) as tf.Tensor3D),
      tf.matMul(tf.transpose(as!, [0, 2, 1]) as tf.Tensor3D, dy as tf.Tensor3D),
    ],
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/**
 * Layer normalisation of each row of x [rows, width] (Ba, Kiros & Hinton 2016): (x − mean) / sqrt(var + 1e-5) · gain
 * + bias. The gradient is written out (gain and bias gradients as column sums) rather than left to tfjs, whose
 * broadcast gradients sum over axis 0.
 */
export const layerNorm = customGrad((x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
  const centred = tf.sub(x, tf.mean(x, 1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), 1e-5));
  const normed = tf.mul(centred, rstd);
  save([normed, rstd, gain]);
  return {
    value: tf.add(tf.mul(normed, gain), bias),
    gradFunc: (dy: tf.Tensor, [n, r, g]: tf.Tensor[]) => {
      const dn = tf.mul(dy, g!);
      const dx = tf.mul(r!, tf.sub(tf.sub(dn, tf.mean(dn, 1, true)), tf.mul(n!, tf.mean(tf.mul(dn, n!), 1, true))));
      return [dx, columnSums(tf.mul(dy, n!) as tf.Tensor2D), columnSums(dy as tf.Tensor2D)];
    },
  };
}) as (x: tf.Tensor2D, gain: tf.Tensor1D, bias: tf.Tensor1D) => tf.Tensor2D;

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GELU (Hendrycks & Gimpel 2016) in GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with its
 * derivative written out (tfjs has no GELU op).
 */
export const gelu = customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const t = tf.tanh(tf.mul(tf.mul(x, tf.add(tf.mul(tf.square(x), 0.044715), 1)), GELU_C));
  save([x, t]);
  return {
    value: tf.mul(tf.mul(x, 0.5), tf.add(t, 1)),
    gradFunc: (dy: tf.Tensor, [xs, ts]: tf.Tensor[]) => {
      const inner = tf.mul(tf.add(tf.mul(tf.square(xs!), 3 * 0.044715), 1), GELU_C);
      const slope = tf.add(tf.mul(tf.add(ts!, 1), 0.5), tf.mul(tf.mul(tf.mul(xs!, 0.5), tf.sub(1, tf.square(ts!))), inner));
      return tf.mul(dy, slope);
    },
  };
}) as (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * Rows of `table` for each id in `ids` (flat [n]), as [n, dim]. Where the backend has UnsortedSegmentSum (tfjs-node,
 * cpu), tfjs's own gather gradient is used; the wasm backend lacks it, so there the gradient is a ScatterNd, which
 * sums the rows of repeated ids (a one-hot matMul costs as much as the rest of a training step). Rows are read with
 * GatherNd: the wasm backend's GatherV2 is 25 times slower.
 */
export function embed(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (tf.getKernel('UnsortedSegmentSum', tf.getBackend())) return tf.gather(table, ids);
  const shape = table.shape;
  const op = customGrad((t: tf.Tensor, i: tf.Tensor, save: tf.GradSaveFunc) => {
    save([i]);
    return {
      value: tf.gatherND(t, tf.expandDims(i, 1)),
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => [tf.scatterND(tf.expandDims(saved!, 1), dy, shape), tf.zerosLike(saved!)],
    };
  }) as (t: tf.Tensor2D, i: tf.Tensor1D) => tf.Tensor2D;
  return op(table, ids);
}

/**
 * Mean cross-entropy of logits [batch, classes] against target ids [batch], over the rows whose `mask` [batch] is 1
 * (all rows without a mask; a masked row's target id must still be a valid class, e.g. 0). Built on the backend's
 * fused softmax (wasm's elementwise exp, which logSoftmax uses, is several times slower); each row's target
 * probability is gathered (GatherNd), not masked out with a one-hot product; the gradient is (softmax − onehot)/rows.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, mask?: tf.Tensor1D): tf.Scalar {
  const [batch, classes] = logits.shape;
  const op = customGrad((l: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(l);
    const rows = mask ? tf.maximum(tf.sum(mask), 1) : tf.scalar(batch);
    save([p, rows]);
    const at = tf.add(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(classes, 'int32')), targets);
    const logPicked = tf.log(tf.maximum(tf.gatherND(tf.reshape(p, [batch * classes]), tf.expandDims(at, 1)), 1e-30));
    return {
      value: tf.div(tf.neg(tf.sum(mask ? tf.mul(logPicked, mask) : logPicked)), rows),
      gradFunc: (dy: tf.Tensor, [ps, rows]: tf.Tensor[]) => {
        const g = tf.mul(tf.sub(ps!, tf.cast(tf.oneHot(targets, classes), 'float32')), tf.div(dy, rows!));
        return mask ? tf.mul(g, tf.expandDims(mask, 1)) : g;
      },
    };
  }) as (l: tf.Tensor2D) => tf.Scalar;
  return op(logits);
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
