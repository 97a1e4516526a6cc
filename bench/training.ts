// Benchmark: Legible's training loops against the backend's own matmul ceiling, measured side by side in one
// process. Rows: the reference 256-512-512-256 ReLU MLP (Legible's custom-gradient dense layers, and tfjs's own
// model.fit on the same model as the baseline), and the demo's next-word model in each loop (training, alignment,
// retraining above a frozen layer, dictionary learning). Then two independent training processes at once against
// one at a time. Prints tables and writes the figures under "training" and "cores" in bench/results/latest.json.
import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveResults } from './results';
import { trainDictionary } from '../nn/dictionary';
import { initBackend } from '../nn/backend';
import { modelSpec, type Examples, type MlpSpec, type ModelSpec, type TransformerSpec } from '../nn/language-model';
import { TransformerModel } from '../nn/transformer';
import { MlpModel } from '../nn/mlp';
import { dense, readOut } from '../nn/ops';
import { train, type TrainOptions } from '../nn/train';
import { parsePipeline } from '../pipelines/load';

interface Row {
  model: string;
  loop: string;
  samplesPerSec: number;
  gflops: number;
  matmulGflops: number;
  ratio: number;
}

const SHAPES = [[256, 256, 512], [256, 512, 512], [256, 512, 256], [1024, 1024, 1024]] as const;

/**
 * The backend's plain matMul (no transposes) in GFLOP/s at m×k×n, best of two timings: with the same right-hand
 * matrix every call (the wasm backend then reuses its packed copy) or with a new one every call, as in training,
 * where the weights change each step.
 */
function matmulRate(m: number, k: number, n: number, fresh: boolean): number {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const once = () => {
    const rhs = fresh ? tf.mul(b, 1) : b;
    const c = tf.matMul(a, rhs);
    c.dataSync();
    tf.dispose(fresh ? [c, rhs] : [c]);
  };
  once();
  const runs = Math.max(4, Math.round(1.5e9 / (2 * m * k * n)));
  let best = Infinity;
  for (let rep = 0; rep < 2; rep++) {
    const t = performance.now();
    for (let i = 0; i < runs; i++) once();
    best = Math.min(best, (performance.now() - t) / 1000 / runs);
  }
  tf.dispose([a, b]);
  return (2 * m * k * n) / best / 1e9;
}

/** The ceiling each loop is compared with: the best plain matMul with a new right-hand matrix per call. */
const matmulCeiling = () => Math.max(...SHAPES.map(([m, k, n]) => matmulRate(m, k, n, true)));

/** The reference MLP on random regression data: Legible's dense layers, Adam, one tidy per step. */
function referenceMlp(steps: number): number {
  const sizes = [256, 512, 512, 256];
  const vars = sizes.slice(1).map((n, i) => ({ w: tf.variable(tf.randomNormal([sizes[i]!, n], 0, 0.05)), b: tf.variable(tf.zeros([n])) }));
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([256, 256]) as tf.Tensor2D;
  const y = tf.randomNormal([256, 256]);
  const trainable = vars.flatMap((v) => [v.w, v.b]);
  const step = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        let h = x;
        vars.forEach((v, i) => {
          h = dense(h, v.w as tf.Tensor2D, v.b as tf.Tensor1D);
          if (i < vars.length - 1) h = tf.relu(h);
        });
        return tf.losses.meanSquaredError(y, h) as tf.Scalar;
      }, trainable);
      optimizer.applyGradients(trainable.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
    });
  for (let i = 0; i < 3; i++) step();
  const t = performance.now();
  for (let i = 0; i < steps; i++) step();
  trainable[0]!.dataSync();
  const seconds = (performance.now() - t) / 1000;
  tf.dispose([...trainable, x, y]);
  optimizer.dispose();
  return (256 * steps) / seconds;
}

/** The same MLP through tfjs's layers API and model.fit (built-in gradients): the baseline. */
async function referenceFit(steps: number): Promise<number> {
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [256], units: 512, activation: 'relu' }), tf.layers.dense({ units: 512, activation: 'relu' }), tf.layers.dense({ units: 256 })],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const x = tf.randomNormal([256 * steps, 256]);
  const y = tf.randomNormal([256 * steps, 256]);
  await model.fit(x.slice([0, 0], [256 * 3, 256]), y.slice([0, 0], [256 * 3, 256]), { batchSize: 256, epochs: 1, verbose: 0 });
  const t = performance.now();
  await model.fit(x, y, { batchSize: 256, epochs: 1, verbose: 0, shuffle: false });
  const seconds = (performance.now() - t) / 1000;
  tf.dispose([x, y]);
  model.dispose();
  return (256 * steps) / seconds;
}

const MLP_FLOPS_PER_SAMPLE = 3 * 2 * (256 * 512 + 512 * 512 + 512 * 256);

/**
 * One table row from `rounds` paired measurements: each round measures the matmul ceiling, the loop, then the ceiling
 * again, and compares the loop with the mean of the two ceilings; the row is the round with the median ratio. (This
 * machine's speed drifts by a third within a minute: only a ceiling measured around the loop is a fair comparison.)
 */
async function pairedRow(model: string, loop: string, flopsPerSample: number, measure: () => Promise<number> | number, rounds = 5): Promise<Row> {
  const measured: Row[] = [];
  for (let i = 0; i < rounds; i++) {
    const before = matmulCeiling();
    const samplesPerSec = await measure();
    const matmulGflops = (before + matmulCeiling()) / 2;
    const gflops = (samplesPerSec * flopsPerSample) / 1e9;
    measured.push({ model, loop, samplesPerSec, gflops, matmulGflops, ratio: gflops / matmulGflops });
  }
  return measured.sort((x, y) => x.ratio - y.ratio)[Math.floor(rounds / 2)]!;
}

/** The demo's model on random token windows (the loops' cost does not depend on which words they are). */
function demoExamples(n: number, vocabulary: number, context: number, seed: number): Examples {
  return {
    inputs: Int32Array.from(readOut(() => tf.randomUniform([n, context], 0, vocabulary, 'float32', seed).floor())),
    targets: Int32Array.from(readOut(() => tf.randomUniform([n], 0, vocabulary, 'float32', seed + 1).floor())),
  };
}

/** A pipeline file's model (its vocabulary as large as the file asks) and training batch size; throws for another kind. */
function pipelineModel<S extends ModelSpec>(file: string, kind: 'mlp' | 'transformer'): { spec: S; batchSize: number } {
  const p = parsePipeline(readFileSync(join(__dirname, '..', 'pipelines', file), 'utf8'));
  if (p.model.kind !== kind) throw new Error(`pipelines/${file}: the benchmark expects a model of kind ${kind}, not ${p.model.kind}`);
  return { spec: modelSpec(p.model, p.model.vocabularySize) as S, batchSize: p.training.batchSize };
}

/** The demo pipeline's model and training batch size (pipelines/demo.yaml). */
const demoModel = () => pipelineModel<MlpSpec>('demo.yaml', 'mlp');

async function demoLoops(): Promise<Row[]> {
  const { spec, batchSize } = demoModel();
  const widths = [spec.contextWords * spec.embeddingSize, ...spec.hidden.map((h) => h.width), spec.vocabularySize];
  // Forward multiply-adds per sample by layer (embedding lookup excluded); training costs about three forwards.
  const layerFlops = widths.slice(1).map((w, i) => 2 * widths[i]! * w);
  const data = demoExamples(16_384, spec.vocabularySize, spec.contextWords, 1);
  const rows: Row[] = [];
  const row = async (loop: string, flopsPerSample: number, measure: () => Promise<number>) => rows.push(await pairedRow('demo next-word', loop, flopsPerSample, measure));
  const options = { epochs: 1, batchSize, learningRate: 1e-3, seed: 1 };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

  const model = MlpModel.create(spec, 1);
  const loop = (extra: Partial<TrainOptions> = {}) => async () => (await train(model, data, { ...options, trainable: model.trainableVariables(), ...extra })).samplesPerSecond;
  await row('training', 3 * sum(layerFlops), loop());

  const width = spec.hidden[0]!.width;
  const align = demoExamples(16_384, spec.vocabularySize, spec.contextWords, 3);
  const alignment = { depth: 0, examples: align, targets: new Float32Array(align.targets.length * width).fill(0.5), weights: new Float32Array(align.targets.length * width).fill(0.01), weight: 4 };
  // Each alignment step also runs the align batch up to the aligned layer, forward and back.
  await row('alignment', 3 * sum(layerFlops) + 3 * layerFlops[0]!, loop({ alignment }));

  model.freezeThrough(0);
  // Above a frozen first layer: forward through everything, backward through the rest.
  await row('retraining', sum(layerFlops) + 2 * sum(layerFlops.slice(1)), loop());
  model.dispose();

  const acts = readOut(() => tf.relu(tf.randomNormal([16_384, width])));
  const dict = { enabled: true, kind: 'topk' as const, expansion: 2, k: 4, l1: 0, epochs: 1, batchSize: 256, learningRate: 1e-3, resampleDead: false, minCorrelation: 0 };
  // Per sample, five width × features products: the encoder's and decoder's forward, the decoder's input and weight
  // gradients and the encoder's weight gradient (the input takes none). Timed as train() times itself: the training
  // loop, without the setup before it or the statistics pass after it.
  await row('dictionary', 5 * 2 * width * width * dict.expansion, async () => {
    const { sae, samplesPerSecond } = await trainDictionary(acts, width, dict, 1);
    sae.dispose();
    return samplesPerSecond;
  });
  return rows;
}

/**
 * The transformer example's training, alignment and retraining loops on random full-length sequences (no padding,
 * so every position counted is computed for a real token). Matmul FLOPs per sequence, forward: per position and
 * block, the q, k, v and output projections (8·d²), the MLP (4·d·dMlp) and attention's scores and mixing over the
 * context (4·T·d); per position, the output layer (2·d·vocabulary). Training costs three forwards.
 */
async function transformerLoops(): Promise<Row[]> {
  const { spec, batchSize } = pipelineModel<TransformerSpec>('transformer.yaml', 'transformer');
  const { contextTokens: t, dModel: d, dMlp: m, vocabularySize: v } = spec;
  const block = t * (8 * d * d + 4 * d * m + 4 * t * d);
  const toMlp0 = t * (8 * d * d + 2 * d * m + 4 * t * d);
  const output = t * 2 * d * v;
  const forward = spec.layers * block + output;
  const random = (n: number, seed: number): Examples => ({
    inputs: Int32Array.from(readOut(() => tf.randomUniform([n, t], 0, v, 'float32', seed).floor())),
    targets: Int32Array.from(readOut(() => tf.randomUniform([n, t], 0, v, 'float32', seed + 1).floor())),
  });
  const data = random(1024, 5);
  const rows: Row[] = [];
  const name = `transformer ${spec.layers}x${d} mlp ${m}, T ${t}`;
  const row = async (loop: string, flopsPerSample: number, measure: () => Promise<number>) => rows.push(await pairedRow(name, loop, flopsPerSample, measure, 3));
  const model = TransformerModel.create(spec, 1);
  const options = { epochs: 1, batchSize, learningRate: 1e-3, seed: 1 };
  const loop = (extra: Partial<TrainOptions> = {}) => async () => (await train(model, data, { ...options, trainable: model.trainableVariables(), ...extra })).samplesPerSecond;
  await row('training (sequences/s)', 3 * forward, loop());
  const align = random(1024, 7);
  const targets = new Float32Array(1024 * t * m).fill(0.5);
  const alignment = { depth: 0, examples: align, targets, weights: new Float32Array(targets.length).fill(0.01), weight: 4 };
  // Each alignment step also runs the align batch up to mlp0, forward and back.
  await row('alignment', 3 * forward + 3 * toMlp0, loop({ alignment }));
  model.freezeThrough(0);
  // Above a frozen mlp0: forward through everything, backward through mlp0's output weights, block 1 and the output.
  await row('retraining', forward + 2 * (t * 2 * d * m + (spec.layers - 1) * block + output), loop());
  model.dispose();
  return rows;
}

/** Child mode: train the demo model for a fixed number of samples and print samples per second. */
async function childTraining(): Promise<void> {
  await initBackend();
  const { spec, batchSize } = demoModel();
  const model = MlpModel.create(spec, 1);
  const r = await train(model, demoExamples(32_768, spec.vocabularySize, spec.contextWords, 2), { epochs: 1, batchSize, learningRate: 1e-3, seed: 1, trainable: model.trainableVariables() });
  process.stdout.write(JSON.stringify({ samplesPerSec: r.samplesPerSecond, seconds: r.seconds }));
}

function runChild(): Promise<{ samplesPerSec: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--child'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
  });
}

/**
 * Two independent training processes at once against one at a time, in three rounds (each: two one after the other,
 * then two together); the round with the median speedup is kept.
 */
async function cores(): Promise<{ oneAtATimeSamplesPerSec: number; twoAtOnceSamplesPerSec: number; speedup: number }> {
  const rounds = [];
  for (let i = 0; i < 3; i++) {
    const a = await runChild();
    const b = await runChild();
    const oneAtATime = (2 * 32_768) / (a.seconds + b.seconds);
    // Both start together and load alike, so their training overlaps; the pair takes as long as the slower one.
    const both = await Promise.all([runChild(), runChild()]);
    const twoAtOnce = (2 * 32_768) / Math.max(...both.map((x) => x.seconds));
    rounds.push({ oneAtATimeSamplesPerSec: oneAtATime, twoAtOnceSamplesPerSec: twoAtOnce, speedup: twoAtOnce / oneAtATime });
  }
  return rounds.sort((x, y) => x.speedup - y.speedup)[1]!;
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return childTraining();
  const backend = await initBackend();
  const byShape = Object.fromEntries(SHAPES.map(([m, k, n]) => [`${m}x${k}x${n}`, { sameB: matmulRate(m, k, n, false), newB: matmulRate(m, k, n, true) }]));
  const rows: Row[] = [];
  const mlp = 'reference MLP 256-512-512-256';
  rows.push(await pairedRow(mlp, 'Legible dense (custom gradients)', MLP_FLOPS_PER_SAMPLE, () => referenceMlp(20)));
  rows.push(await pairedRow(mlp, 'tfjs model.fit (baseline)', MLP_FLOPS_PER_SAMPLE, () => referenceFit(10), 3));
  rows.push(...(await demoLoops()));
  rows.push(...(await transformerLoops()));
  const c = await cores();

  console.log(`backend: ${backend}; plain matMul GFLOP/s in this process (same right-hand matrix / a new one each call):`);
  console.log(`  ${Object.entries(byShape).map(([k, v]) => `${k} ${v.sameB.toFixed(1)} / ${v.newB.toFixed(1)}`).join(', ')}`);
  console.log('Each row: the median of five rounds (three for model.fit); each round compares the loop with the mean of the best "new" matMul just before and just after it.\n');
  console.log('model                          loop                              samples/s  GFLOP/s  matmul  of matmul');
  for (const r of rows)
    console.log(`${r.model.padEnd(31)}${r.loop.padEnd(34)}${r.samplesPerSec.toFixed(0).padStart(9)}  ${r.gflops.toFixed(1).padStart(7)}  ${r.matmulGflops.toFixed(1).padStart(6)}  ${(100 * r.ratio).toFixed(0).padStart(8)}%`);
  console.log(`\ncores (${execFileSync('nproc').toString().trim()}), median of three rounds: two training processes at once ${c.twoAtOnceSamplesPerSec.toFixed(0)} samples/s against one at a time ${c.oneAtATimeSamplesPerSec.toFixed(0)}: ${c.speedup.toFixed(2)}x`);

  saveResults({ backend, matmul: byShape, training: rows, cores: c });
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
