// What every step of a pipeline shares: memoising a result by its inputs and the code (so a retried, resumed or
// replayed step never pays twice), loading corpora and models from the artifact store, saving models, training with
// per-epoch checkpoints named in heartbeats and kept under the step's key (so a retried attempt, or the step run again
// after `legible resume`, goes on where the last one stopped), and reading
// recorded activations back. The step families (model.ts, interpret.ts) are built on it.
import { ApplicationFailure, Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusFromBundle, sentence, splitStarts, type Corpus, type CorpusMeta, type SplitName } from '../data/corpus';
import { InvalidInputError } from '../data/errors';
import { activationsOnSplit, type LayerActivations } from '../interp/records';
import type { UnitScore } from '../interp/scoring';
import { readLabels } from '../llm/artifacts';
import { noUsage, type IncomingNeuron, type Usage } from '../llm/types';
import { examplesFor, modelFromBundle, type Examples, type LanguageModel, type ModelMeta, type ModelSpec } from '../nn/language-model';
import type { OptimizerState } from '../nn/optimizer-state';
import { train, type TrainCheckpoint, type TrainOptions } from '../nn/train';
import type { StepKind } from '../pipelines/schema';
import type { ArtifactRef, ArtifactStore, Bundle } from '../store/artifacts';

export interface ModelResult {
  /** Where a retried attempt went on from (the last checkpoint of the attempt before it); null when it started afresh. */
  resumedFrom?: { epoch: number; step: number } | null;
  model: ArtifactRef;
  backend: string;
  seconds: number;
  /** Optimiser steps taken (the matched control takes as many as the run it controls). */
  steps: number;
  samplesPerSecond: number;
  taskLoss: number;
  /** sha256 of each hidden layer's weights and biases: shows which layers a step changed. */
  layerHashes: Record<string, string>;
  /** True when the result was found in the store and nothing was recomputed. */
  reused: boolean;
}

export type StepContext = ReturnType<typeof stepContext>;

/** The record a running step keeps its latest training checkpoint's reference in (per step and input; set by `once`). */
const checkpointSlot = new AsyncLocalStorage<{ step: string; key: unknown }>();

export function stepContext(store: ArtifactStore) {
  const code = codeFingerprint();

  /**
   * Runs a step once per distinct key (every input the result depends on) and version of the code; a second call
   * with the same key returns the stored result.
   */
  async function once<R extends object>(kind: StepKind, key: unknown, compute: () => Promise<R>): Promise<R & { reused: boolean }> {
    try {
      // While another worker computes the same result, heartbeat (keeping an earlier attempt's checkpoint named).
      // A training step's latest checkpoint is also kept in the store under the step's key (see trainResumably).
      const slot = { step: `${kind}.checkpoint`, key: { code, input: key } };
      const { result, reused } = await store.memoise(kind, { code, input: key }, () => checkpointSlot.run(slot, compute), () => beat({ waitingFor: kind, checkpoint: lastCheckpoint() }));
      if (!reused) await store.removeRecord(slot.step, slot.key); // the result is stored: its checkpoint has served
      // A reused result cost nothing this time: its language-model calls count as answered from the cache.
      if (reused && 'usage' in result) {
        const u = result.usage as Usage;
        return { ...result, usage: { ...noUsage(), cachedCalls: u.calls + u.cachedCalls }, reused };
      }
      return { ...result, reused };
    } catch (err) {
      throw asFailure(err);
    }
  }

  const loadCorpus = async (ref: ArtifactRef): Promise<Corpus> => corpusFromBundle(await store.getBundle<CorpusMeta>(ref));
  const loadModel = async (ref: ArtifactRef): Promise<LanguageModel> => modelFromBundle(await store.getBundle<ModelMeta>(ref));

  async function saveModel(model: LanguageModel, run: { seconds: number; steps: number; samplesPerSecond: number; taskLoss: number }, backend: string) {
    const bundle = model.toBundle();
    const layerHashes = Object.fromEntries(
      model.spec.hidden.map((h) => [h.name, hashArrays(bundle.arrays[`${h.name}.w`]!, bundle.arrays[`${h.name}.b`]!)]),
    );
    return { model: await store.putBundle('model', bundle), backend, layerHashes, seconds: run.seconds, steps: run.steps, samplesPerSecond: run.samplesPerSecond, taskLoss: run.taskLoss };
  }

  /**
   * Trains with a checkpoint (weights, optimizer state, batch positions) stored at the end of every epoch and named
   * in every heartbeat. An attempt whose last heartbeat named a checkpoint (the worker before it died or timed out)
   * goes on from there instead of from epoch 0, and gets the same result as an uninterrupted run.
   */
  async function trainResumably(initial: LanguageModel, data: Examples, o: Omit<TrainOptions, 'trainable' | 'onProgress' | 'onCheckpoint' | 'resumeFrom'>) {
    // The checkpoint named in the last attempt's heartbeat; else the one kept under this step's key, which outlives
    // the attempts (a run reset by `legible resume` schedules the step afresh, with no heartbeat behind it).
    const slot = checkpointSlot.getStore();
    let checkpoint = lastCheckpoint() ?? (slot && (await store.readRecord<ArtifactRef>(slot.step, slot.key)));
    let model = initial;
    let resumeFrom: TrainCheckpoint | undefined;
    if (checkpoint) {
      const c = await getCheckpoint<Omit<TrainCheckpoint, 'optimizer'>, ModelMeta>(checkpoint);
      model = modelFromBundle(c.weights);
      initial.dispose();
      resumeFrom = { ...c.meta, optimizer: c.optimizer };
    }
    try {
      const run = await train(model, data, {
        ...o,
        trainable: model.trainableVariables(),
        resumeFrom,
        onProgress: (p) => beat({ ...p, tensors: tf.memory().numTensors, ...(checkpoint ? { checkpoint } : {}) }),
        onCheckpoint: async (c) => {
          const { optimizer, ...train } = c;
          checkpoint = await putCheckpoint(train, model.toBundle(), optimizer);
          if (slot) await store.writeRecord(slot.step, slot.key, checkpoint);
          beat({ epoch: c.epoch, epochs: o.epochs, step: c.step, checkpoint });
        },
      });
      return { model, run, resumedFrom: resumeFrom ? { epoch: resumeFrom.epoch, step: resumeFrom.step } : null };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /** A checkpoint: the run's state (JSON), the weights being trained (a bundle) and the optimizer's state. */
  function putCheckpoint(meta: object, weights: Bundle, optimizer: OptimizerState): Promise<ArtifactRef> {
    const arrays: Bundle['arrays'] = Object.fromEntries(Object.entries(weights.arrays).map(([k, v]) => [`weights/${k}`, v]));
    optimizer.values.forEach((a, i) => (arrays[`optimizer/${i}`] = a));
    return store.putBundle('checkpoint', { meta: { meta, weightsMeta: weights.meta, optimizerShapes: optimizer.shapes, ...(optimizer.accBeta ? { optimizerAccBeta: optimizer.accBeta } : {}) }, arrays });
  }

  async function getCheckpoint<M, W>(ref: ArtifactRef): Promise<{ meta: M; weights: Bundle<W>; optimizer: OptimizerState }> {
    const b = await store.getBundle<{ meta: M; weightsMeta: W; optimizerShapes: number[][]; optimizerAccBeta?: [number, number] }>(ref);
    const weights = Object.fromEntries(Object.entries(b.arrays).filter(([k]) => k.startsWith('weights/')).map(([k, v]) => [k.slice('weights/'.length), v]));
    const shapes = b.meta.optimizerShapes;
    return { meta: b.meta.meta, weights: { meta: b.meta.weightsMeta, arrays: weights }, optimizer: { values: shapes.map((_, i) => b.arrays[`optimizer/${i}`] as Float32Array), shapes, ...(b.meta.optimizerAccBeta ? { accBeta: b.meta.optimizerAccBeta } : {}) } };
  }

  /** The activations of one layer on one split, with the words of every token. */
  async function layerActivations(corpus: Corpus, records: ArtifactRef): Promise<LayerActivations> {
    const b = await store.getBundle<{ width: number; split: SplitName }>(records);
    return activationsOnSplit(corpus, b.meta.split, b.meta.width, b.arrays.activations as Float32Array);
  }

  /** For each neuron of `layer`, its strongest incoming neurons of the layer below, by absolute weight, with labels. */
  async function incomingNeurons(o: { model: ArtifactRef; layer: string; labelsBelow: ArtifactRef[]; topN: number }): Promise<(unit: number) => IncomingNeuron[]> {
    const model = await loadModel(o.model);
    try {
      const depth = model.depthOf(o.layer);
      const w = model.incomingWeights(depth);
      const width = model.spec.hidden[depth]!.width;
      const below = w.length / width;
      const labels = await readLabels(store, o.labelsBelow);
      return (unit) =>
        Array.from({ length: below }, (_, i) => ({ unit: i, weight: w[i * width + unit]! }))
          .filter((n) => labels.has(n.unit))
          .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.unit - b.unit)
          .slice(0, o.topN)
          .map((n) => ({ ...n, weight: Math.round(n.weight * 1000) / 1000, label: labels.get(n.unit)! }));
    } finally {
      model.dispose();
    }
  }

  /**
   * A split of the text (by default all held-out text) as the model's examples, with each sentence's first token:
   * sentence j covers tokens starts[j]..starts[j+1] of every per-token array.
   */
  function examplesOf(corpus: Corpus, spec: ModelSpec, split: SplitName = 'heldOut'): Examples & { starts: Int32Array } {
    return { ...examplesFor(spec, corpus, corpus.splits[split]), starts: splitStarts(corpus, corpus.splits[split]) };
  }

  function sentencesOf(corpus: Corpus, split: SplitName): string[][] {
    return [...corpus.splits[split]].map((s) => [...sentence(corpus, s)].map((t) => corpus.meta.vocabulary[t]!));
  }

  return { store, once, loadCorpus, loadModel, saveModel, trainResumably, putCheckpoint, getCheckpoint, layerActivations, incomingNeurons, examplesOf, sentencesOf };
}

/**
 * Lets the worker's own work through between units: activities share the process with the workflow worker, and a
 * long synchronous stretch would delay workflow tasks and heartbeats.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** The checkpoint named in this activity's last heartbeat (from an earlier attempt), if any. */
export function lastCheckpoint(): ArtifactRef | undefined {
  try {
    return (Context.current().info.heartbeatDetails as { checkpoint?: ArtifactRef } | undefined)?.checkpoint;
  } catch {
    return undefined;
  }
}

/**
 * Heartbeats when running as an activity (a no-op when a step is called directly: tests, benchmarks), and throws the
 * cancellation where the step was cancelled.
 */
export function beat(details: object): void {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return;
  }
  // A cancelled step (its worker shutting down, or the run cancelled) stops here; it keeps its last checkpoint.
  if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
  context.heartbeat(details);
}

export function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function roundScore(s: UnitScore): UnitScore {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  const extra = { detection: s.detection, fuzzing: s.fuzzing, auc: s.auc };
  return { unit: s.unit, allTokens: r(s.allTokens), topAndRandom: r(s.topAndRandom), randomOnly: r(s.randomOnly), constantOnRandom: s.constantOnRandom, ...Object.fromEntries(Object.entries(extra).flatMap(([k, v]) => (v === undefined ? [] : [[k, r(v)]]))) };
}

export function hashArrays(...arrays: (Float32Array | Int32Array)[]): string {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 16);
}

/** A hash of the code that computes step results, so that stored results never outlive a change to it. */
export function codeFingerprint(): string {
  const h = createHash('sha256');
  const root = join(__dirname, '..');
  for (const dir of ['activities', 'data', 'interp', 'llm', 'nn', 'pipelines', 'stats', 'store']) {
    for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (/\.[jt]s$/.test(file)) h.update(file).update(readFileSync(join(root, dir, file)));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** Errors that no retry can fix fail the step for good, with the reason. */
export function asFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof InvalidInputError) return ApplicationFailure.nonRetryable(err.message, err.name);
  return err;
}
