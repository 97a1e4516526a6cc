// A tfjs optimizer's state (Adam: the iteration count, both moments, and the running powers of beta1 and beta2) as
// plain arrays, so that a checkpoint can store it and another process restore it, and training resumed from it
// takes bit for bit the steps an uninterrupted run takes. The moments are kept by position: restore into an
// optimizer that will see the same variables in the same order.
import * as tf from '@tensorflow/tfjs';

export interface OptimizerState {
  values: Float32Array[];
  shapes: number[][];
  /**
   * Adam's running beta1^t and beta2^t. tfjs's setWeights recomputes them as pow(beta, t + 1), which rounds
   * differently from the products an uninterrupted run accumulates; absent in checkpoints made before they were kept.
   */
  accBeta?: [number, number];
}

/** Adam's private running powers (tfjs-core AdamOptimizer.accBeta1 / accBeta2), where the optimizer has them. */
function betaPowers(optimizer: tf.Optimizer): [tf.Variable, tf.Variable] | undefined {
  const o = optimizer as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
  return o.accBeta1 && o.accBeta2 ? [o.accBeta1, o.accBeta2] : undefined;
}

export async function saveOptimizerState(optimizer: tf.Optimizer): Promise<OptimizerState> {
  const weights = await optimizer.getWeights();
  const powers = betaPowers(optimizer);
  const state: OptimizerState = {
    values: await Promise.all(weights.map(async (w) => Float32Array.from(await w.tensor.data()))),
    shapes: weights.map((w) => w.tensor.shape),
    ...(powers ? { accBeta: [(await powers[0].data())[0]!, (await powers[1].data())[0]!] } : {}),
  };
  // getWeights hands out a fresh tensor for the iteration count; the moments are the optimizer's own.
  weights[0]!.tensor.dispose();
  return state;
}

export async function restoreOptimizerState(optimizer: tf.Optimizer, s: OptimizerState): Promise<void> {
  await optimizer.setWeights(s.values.map((a, i) => ({ name: `w${i}`, tensor: i === 0 ? tf.scalar(a[0]!, 'int32') : tf.tensor(a, s.shapes[i]) })));
  const powers = betaPowers(optimizer);
  if (powers && s.accBeta) s.accBeta.forEach((p, i) => powers[i]!.assign(tf.scalar(p)));
}
