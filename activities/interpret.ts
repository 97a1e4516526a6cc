// The steps that interpret a layer: record its activations, learn a sparse dictionary, explain units (neurons or
// dictionary features) with the explainer, simulate them from their labels with the simulator, score the
// simulations, and give the best-explained dictionary features to neurons.
import munkres from 'munkres';
import type { SplitName } from '../data/corpus';
import { InvalidInputError } from '../data/errors';
import { unitRecords } from '../interp/records';
import { groupAllTokens, groupScores, mean, pearson, scoreUnit, sentenceSums, type GroupScores, type UnitScore } from '../interp/scoring';
import { readExplanations, readLabels, readSimulations } from '../llm/artifacts';
import { labelShape } from '../llm/label-shape';
import { explainerFor, simulatorFor } from '../llm/provider';
import { noUsage, type Explanation } from '../llm/types';
import { initBackend } from '../nn/backend';
import { trainDictionary, type DictionaryCheckpoint } from '../nn/dictionary';
import { examplesFor } from '../nn/language-model';
import { recordLayer } from '../nn/train';
import type { DictionarySettings, Pipeline } from '../pipelines/schema';
import type { Estimate, Interval } from '../stats/bootstrap';
import type { ArtifactRef } from '../store/artifacts';
import { beat, concatFloat32, lastCheckpoint, roundScore, yieldToEventLoop, type StepContext } from './context';

export interface ScoreSummary {
  scores: UnitScore[];
  /** The top-activating and random sentences each unit's top-and-random and random-only scores use. */
  sentencesPerUnit?: { top: number; random: number };
  meanAllTokens: number;
  meanTopAndRandom: number;
  meanRandomOnly: number;
  /** Per named group of units: means with 95% intervals; with a baseline, the paired all-tokens gain over it. */
  groups?: Record<string, GroupScores & { gain?: Estimate }>;
}

/** A unit's simulations with some units given others' ([unit, source] pairs, all read from the original map). */
function relabel(simulated: Map<number, Float32Array>, simulationOf: [number, number][] = []): Map<number, Float32Array> {
  const out = new Map(simulated);
  for (const [unit, source] of simulationOf) {
    const s = simulated.get(source);
    if (!s) throw new InvalidInputError(`scoreExplanations: unit ${unit} is to be scored with unit ${source}'s simulation, which is not given`);
    out.set(unit, s);
  }
  return out;
}

export function interpretSteps({ store, once, loadCorpus, loadModel, layerActivations, incomingNeurons, sentencesOf, putCheckpoint, getCheckpoint }: StepContext) {
  return {
    /** Records one layer's activations on each named split, one value per neuron and token. */
    async recordActivations(input: { corpus: ArtifactRef; model: ArtifactRef; layer: string; splits: SplitName[] }) {
      return once('recordActivations', input, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const model = await loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const width = model.spec.hidden[depth]!.width;
          const records: Partial<Record<SplitName, ArtifactRef>> = {};
          for (const split of input.splits) {
            const activations = await recordLayer(model, examplesFor(model.spec, corpus, corpus.splits[split]), depth);
            records[split] = await store.putBundle('activations', { meta: { layer: input.layer, width, split }, arrays: { activations } });
          }
          return { records, backend };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Learns a sparse dictionary on a layer's activations (the given training records), and writes the feature
     * activations of the splits to encode in the same format as recorded neuron activations.
     */
    async learnDictionary(input: {
      pipeline: Pipeline;
      layer: string;
      settings: DictionarySettings;
      train: ArtifactRef[];
      encode: Partial<Record<SplitName, ArtifactRef>>;
    }) {
      return once('learnDictionary', input, async () => {
        const backend = await initBackend();
        const parts = await Promise.all(input.train.map((ref) => store.getBundle<{ width: number }>(ref)));
        const width = parts[0]!.meta.width;
        const x = concatFloat32(parts.map((b) => b.arrays.activations as Float32Array));
        // Each epoch ends in a checkpoint named in the heartbeat; a retried attempt goes on from the last one.
        const last = lastCheckpoint();
        let checkpoint = last;
        const saved = last ? await getCheckpoint<Omit<DictionaryCheckpoint, 'optimizer' | 'sae'>, DictionaryCheckpoint['sae']['meta']>(last) : undefined;
        const resumeFrom = saved ? { ...saved.meta, sae: saved.weights, optimizer: saved.optimizer } : undefined;
        const { sae, stats, resampled } = await trainDictionary(x, width, input.settings, input.pipeline.seed, (e) => beat({ ...e, ...(checkpoint ? { checkpoint } : {}) }), {
          ...(resumeFrom ? { resumeFrom } : {}),
          onCheckpoint: async (c) => {
            const { sae, optimizer, ...rest } = c;
            checkpoint = await putCheckpoint(rest, sae, optimizer);
            beat({ epoch: c.epoch, epochs: input.settings.epochs, checkpoint });
          },
        });
        try {
          const features = sae.encodeAll(x);
          const liveFeatures = Array.from({ length: stats.features }, (_, f) => f).filter((f) => {
            for (let k = f; k < features.length; k += stats.features) if (features[k]! > 0) return true;
            return false;
          });
          const records: Partial<Record<SplitName, ArtifactRef>> = {};
          for (const [split, ref] of Object.entries(input.encode) as [SplitName, ArtifactRef][]) {
            const acts = (await store.getBundle<{ width: number }>(ref)).arrays.activations as Float32Array;
            records[split] = await store.putBundle('activations', { meta: { layer: `${input.layer}.features`, width: stats.features, split }, arrays: { activations: sae.encodeAll(acts) } });
          }
          return { dictionary: await store.putBundle('dictionary', sae.toBundle()), records, stats, liveFeatures, resampled, backend, resumedFrom: resumeFrom ? { epoch: resumeFrom.epoch } : null };
        } finally {
          sae.dispose();
        }
      });
    },

    /**
     * Labels units of a layer (neurons, or dictionary features) from their top-activating and random examples; with
     * `incoming`, the explainer also sees each neuron's strongest incoming neurons from the layer below.
     */
    async explainNeurons(input: {
      pipeline: Pipeline;
      corpus: ArtifactRef;
      records: ArtifactRef;
      units: number[];
      incoming?: { model: ArtifactRef; layer: string; labelsBelow: ArtifactRef[]; topN: number };
    }) {
      return once('explainNeurons', input, async () => {
        const { interpretability: o, seed } = input.pipeline;
        const acts = await layerActivations(await loadCorpus(input.corpus), input.records);
        const usage = noUsage();
        const explainer = explainerFor(input.pipeline.explainer, { store, usage });
        const incoming = input.incoming ? await incomingNeurons(input.incoming) : undefined;
        // Every few units the labels so far are stored and named in the heartbeat; a retried attempt keeps them.
        const last = lastCheckpoint();
        const explanations: Explanation[] = last ? await store.getJson<Explanation[]>(last) : [];
        const resumedWith = explanations.length;
        let checkpoint = last;
        for (const unit of input.units.slice(explanations.length)) {
          const records = unitRecords(acts, unit, o.topExamples, o.randomExamples, seed);
          explanations.push(...(await explainer.explain([{ records, ...(incoming ? { incoming: incoming(unit) } : {}) }])));
          if (explanations.length % 8 === 0) checkpoint = await store.putJson('labels', explanations);
          beat({ unitsExplained: explanations.length, units: input.units.length, ...(checkpoint ? { checkpoint } : {}) });
          await yieldToEventLoop();
        }
        const shapes = explanations.map((e) => ({ unit: e.unit, ...labelShape(e.label) }));
        return { labels: await store.putJson('labels', explanations), units: explanations.length, explainer: explainer.name, examples: explanations.slice(0, 3), shapes, usage, resumedWithUnits: resumedWith };
      });
    },

    /** Predicts each listed unit's activations on a split from its label alone (0 to 10 per token). */
    async simulateNeurons(input: { pipeline: Pipeline; corpus: ArtifactRef; labels: ArtifactRef[]; split: SplitName; units: number[] }) {
      return once('simulateNeurons', input, async () => {
        const corpus = await loadCorpus(input.corpus);
        const labels = await readLabels(store, input.labels);
        const sentences = sentencesOf(corpus, input.split);
        const usage = noUsage();
        const simulator = simulatorFor(input.pipeline.simulator, { store, usage });
        const tokens = sentences.reduce((n, s) => n + s.length, 0);
        // Unit-major: unit j's simulation is values[j * tokens .. (j + 1) * tokens].
        const values = new Float32Array(tokens * input.units.length);
        for (const [j, unit] of input.units.entries()) {
          const label = labels.get(unit);
          if (label === undefined) throw new InvalidInputError(`unit ${unit} has no label in the labels given to simulateNeurons`);
          values.set((await simulator.simulate(label, sentences)).flat(), j * tokens);
          beat({ unitsSimulated: j + 1, units: input.units.length });
          await yieldToEventLoop();
        }
        const simulation = await store.putBundle('simulation', { meta: { split: input.split, units: input.units, tokens }, arrays: { values } });
        return { simulation, simulator: simulator.name, ...(simulator.method ? { method: simulator.method } : {}), ...(simulator.notes?.length ? { notes: simulator.notes } : {}), usage };
      });
    },

    /**
     * Correlation of simulated and true activations per unit: over every token of the text (all tokens), and over
     * the unit's top-activating and random sentences (top-and-random, random-only). `sentencesFrom` names the
     * activations those sentences are chosen from (the same text before alignment), so that a score after
     * alignment uses the very tokens of the score before it. `groups` (name → units) get means with 95% intervals;
     * `baseline` (the same text's activations and simulations before) adds each group's paired all-tokens gain.
     */
    async scoreExplanations(input: {
      pipeline: Pipeline;
      corpus: ArtifactRef;
      records: ArtifactRef;
      simulations: ArtifactRef[];
      sentencesFrom?: ArtifactRef;
      groups?: Record<string, number[]>;
      baseline?: { records: ArtifactRef; simulations: ArtifactRef[] };
      /** [unit, source] pairs: the unit is scored with the source unit's simulation (the shuffled-label control). */
      simulationOf?: [number, number][];
    }) {
      return once('scoreExplanations', input, async (): Promise<ScoreSummary> => {
        const { interpretability: o, seed } = input.pipeline;
        const corpus = await loadCorpus(input.corpus);
        const truth = await layerActivations(corpus, input.records);
        const chooseFrom = input.sentencesFrom ? await layerActivations(corpus, input.sentencesFrom) : truth;
        const simulated = relabel(await readSimulations(store, input.simulations, truth.words.length), input.simulationOf);
        // Runs started before scoringRandomExamples existed score on as many random sentences as the explainer saw. At
        // most half the sentences outside the top ones are drawn, so top-and-random never covers the whole text.
        const sentences = truth.starts.length - 1;
        const random = Math.min(o.scoringRandomExamples ?? o.randomExamples, Math.floor(Math.max(0, sentences - o.topExamples) / 2));
        const scores = [...simulated.entries()].map(([unit, column]) => roundScore(scoreUnit(truth, column, unit, { top: o.topExamples, random, seed, chooseFrom })));
        const summary: ScoreSummary = {
          scores,
          sentencesPerUnit: { top: Math.min(o.topExamples, sentences), random },
          meanAllTokens: mean(scores.map((s) => s.allTokens)),
          meanTopAndRandom: mean(scores.map((s) => s.topAndRandom)),
          meanRandomOnly: mean(scores.map((s) => s.randomOnly)),
        };
        if (!input.groups) return summary;
        // The scores a run reports: each unit's all-tokens score gets its interval (bootstrap over sentences).
        const sumsOf = new Map([...simulated.entries()].map(([unit, column]) => [unit, sentenceSums(truth, column, unit)]));
        for (const s of scores) {
          s.allTokensCi95 = groupAllTokens({ sums: [sumsOf.get(s.unit)!] }, seed).ci95.map((x) => Math.round(x * 1e4) / 1e4) as Interval;
          await yieldToEventLoop();
        }
        const base = input.baseline ? { truth: await layerActivations(corpus, input.baseline.records), simulated: await readSimulations(store, input.baseline.simulations, truth.words.length) } : undefined;
        const byUnit = new Map(scores.map((s) => [s.unit, s]));
        summary.groups = {};
        for (const [name, units] of Object.entries(input.groups)) {
          const missing = units.filter((u) => !byUnit.has(u));
          if (missing.length > 0) throw new InvalidInputError(`scoreExplanations: group ${name} names units without a simulation: ${missing.join(', ')}`);
          const sums = { sums: units.map((u) => sumsOf.get(u)!) };
          const group = groupScores(units.map((u) => byUnit.get(u)!), sums, seed);
          await yieldToEventLoop();
          const before = base ? { sums: units.map((u) => sentenceSums(base.truth, base.simulated.get(u)!, u)) } : undefined;
          summary.groups[name] = before ? { ...group, gain: groupAllTokens(sums, seed, before) } : group;
          await yieldToEventLoop();
        }
        return summary;
      });
    },

    /**
     * Makes the best-explained dictionary features legible. The `count` best-explained live features (positive
     * all-tokens score on the selection text) are matched one-to-one to neurons by an optimal assignment (the
     * Hungarian algorithm: Kuhn 1955, Munkres 1957; npm `munkres`) that maximises the summed correlation of feature
     * and neuron activations on held-out text (`neuronRecords` and `featureRecords`: the selection split); pairs
     * below `minCorrelation` are never made, so fewer neurons than `count` may become legible. A matched neuron
     * then carries its feature's label. Returns the layer's labels with those neurons' labels replaced.
     */
    async assignDictionaryFeatures(input: {
      neuronRecords: ArtifactRef;
      featureRecords: ArtifactRef;
      featureScores: UnitScore[];
      neuronLabels: ArtifactRef[];
      featureLabels: ArtifactRef[];
      count: number;
      minCorrelation?: number;
    }) {
      return once('assignDictionaryFeatures', input, async () => {
        const neurons = await store.getBundle<{ width: number }>(input.neuronRecords);
        const features = await store.getBundle<{ width: number }>(input.featureRecords);
        const column = (b: typeof neurons, u: number) => {
          const a = b.arrays.activations as Float32Array;
          return Float32Array.from({ length: a.length / b.meta.width }, (_, k) => a[k * b.meta.width + u]!);
        };
        const neuronColumns = Array.from({ length: neurons.meta.width }, (_, u) => column(neurons, u));
        const featureLabels = await readLabels(store, input.featureLabels);
        // Runs started before minCorrelation existed pass none: no minimum.
        const minCorrelation = input.minCorrelation ?? -Infinity;
        const scoreOf = (f: UnitScore) => f.allTokens ?? f.topAndRandom;
        const candidates = [...input.featureScores]
          .filter((f) => scoreOf(f) > 0)
          .sort((a, b) => scoreOf(b) - scoreOf(a) || a.unit - b.unit)
          .slice(0, input.count);
        const correlations = candidates.map((f) => {
          const fc = column(features, f.unit);
          return neuronColumns.map((nc) => pearson(fc, nc));
        });
        // munkres minimises cost; a pair below the minimum costs more than any allowed pair can save.
        const forbidden = 2 * (candidates.length + 1);
        const pairs = candidates.length === 0 ? [] : munkres(correlations.map((row) => row.map((c) => (c >= minCorrelation ? -c : forbidden))));
        const assignments = pairs
          .filter(([i, u]) => correlations[i]![u]! >= minCorrelation)
          .map(([i, u]) => ({ neuron: u, feature: candidates[i]!.unit, featureScore: scoreOf(candidates[i]!), correlation: Math.round(correlations[i]![u]! * 1e4) / 1e4 }))
          .sort((a, b) => b.featureScore - a.featureScore || a.feature - b.feature);
        const labels = await readExplanations(store, input.neuronLabels);
        for (const a of assignments) labels.find((e) => e.unit === a.neuron)!.label = featureLabels.get(a.feature)!;
        return { labels: await store.putJson('labels', labels), legibleUnits: assignments.map((a) => a.neuron).sort((x, y) => x - y), assignments };
      });
    },
  };
}
