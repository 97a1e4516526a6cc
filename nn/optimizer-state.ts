// A tfjs optimizer's state (Adam: the iteration count and both moments) as plain arrays, so that a checkpoint can
// store it and another process restore it. The moments are kept by position: restore into an optimizer that will
// see the same variables in the same order.
import * as tf from '@tensorflow/tfjs';

export interface OptimizerState {
  values: Float32Array[];
  shapes: number[][];
}

export async function saveOptimizerState(optimizer: tf.Optimizer): Promise<OptimizerState> {
  const weights = await optimizer.getWeights();
  const state = {
    values: await Promise.all(weights.map(async (w) => Float32Array.from(await w.tensor.data()))),
    shapes: weights.map((w) => w.tensor.shape),
  };
  // getWeights hands out a fresh tensor for the iteration count; the moments are the optimizer's own.
  weights[0]!.tensor.dispose();
  return state;
}

export async function restoreOptimizerState(optimizer: tf.Optimizer, s: OptimizerState): Promise<void> {
  await optimizer.setWeights(s.values.map((a, i) => ({ name: `w${i}`, tensor: i === 0 ? tf.scalar(a[0]!, 'int32') : tf.tensor(a, s.shapes[i]) })));
}
