// Chooses the TensorFlow.js backend once per process: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (both
// optional dependencies that need libtensorflow), then the WebAssembly backend (SIMD), then plain JavaScript.
// LEGIBLE_BACKEND=tensorflow|wasm|cpu forces one. Every step reports the backend it ran on.
import * as tf from '@tensorflow/tfjs';

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

let chosen: Promise<string> | undefined;

export function initBackend(): Promise<string> {
  chosen ??= choose();
  return chosen;
}

async function choose(): Promise<string> {
  const forced = process.env.LEGIBLE_BACKEND;
  if (!forced || forced === 'tensorflow') {
    for (const pkg of NATIVE_PACKAGES) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require(pkg);
        if (await tf.setBackend('tensorflow')) return describe(pkg);
      } catch {
        // Not installed here (its install needs libtensorflow): fall through to the next backend.
      }
    }
    if (forced) throw new Error('LEGIBLE_BACKEND=tensorflow, but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads here');
  }
  if (!forced || forced === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return describe('@tensorflow/tfjs-backend-wasm');
    if (forced) throw new Error('LEGIBLE_BACKEND=wasm, but the WebAssembly backend failed to start');
  }
  if (forced && forced !== 'cpu') throw new Error(`LEGIBLE_BACKEND=${forced} is not one of tensorflow, wasm, cpu`);
  await tf.setBackend('cpu');
  return describe('@tensorflow/tfjs-backend-cpu');
}

async function describe(pkg: string): Promise<string> {
  await tf.ready();
  return `${tf.getBackend()} (${pkg})`;
}
