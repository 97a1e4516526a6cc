// Benchmark: the embedded explainer, simulator and scoring on a real layer. For each width, a child process trains
// a next-word model with one hidden layer of that width (one epoch), records the layer on the pipeline's splits,
// then explains, simulates and scores every unit as the pipeline's steps do. Prints units per second for each phase
// and the child's peak memory, and writes the figures to bench/results/latest.json under "explain".
import { execFileSync } from 'node:child_process';
import { saveResults } from './results';
import { buildCorpus, sentence, type SplitName } from '../data/corpus';
import { nextWordExamples } from '../data/examples';
import { activationsOnSplit, unitRecords } from '../interp/records';
import { scoreUnit } from '../interp/scoring';
import { EmbeddedExplainer } from '../llm/embedded/explainer';
import { EmbeddedSimulator } from '../llm/embedded/simulator';
import { initBackend } from '../nn/backend';
import { MlpModel } from '../nn/mlp';
import { recordLayer, train } from '../nn/train';
import { parsePipeline } from '../pipelines/load';
import { hiddenLayers } from '../pipelines/schema';

const WIDTHS = (process.env.BENCH_WIDTHS ?? '64,256,1024').split(',').map(Number);

interface Row {
  width: number;
  explainUnitsPerSec: number;
  simulateUnitsPerSec: number;
  scoreUnitsPerSec: number;
  unitsPerSec: number;
  scoringTokens: number;
  peakRssMiB: number;
}

async function measure(width: number): Promise<Row> {
  await initBackend();
  const p = parsePipeline(`name: bench\nseed: 1\ncorpus: { sentences: 8000 }\nmodel: { hidden: [{ name: h, width: ${width} }] }\ninterpretability: { explanationSequences: 2000, scoringSequences: 400 }\nalignment: { sequences: 1000 }\n`);
  const corpus = buildCorpus(p);
  const model = MlpModel.create({ vocabularySize: corpus.meta.vocabulary.length, contextWords: 4, embeddingSize: 32, hidden: hiddenLayers(p.model) }, 1);
  await train(model, nextWordExamples(corpus, corpus.splits.train, 4), { epochs: 1, batchSize: 256, learningRate: 0.003, seed: 1, trainable: model.trainableVariables() });
  const layer = async (split: SplitName) => activationsOnSplit(corpus, split, width, await recordLayer(model, nextWordExamples(corpus, corpus.splits[split], 4), 0));
  const explainSet = await layer('explain');
  const scoreSet = await layer('score');
  const sentences = [...corpus.splits.score].map((s) => [...sentence(corpus, s)].map((t) => corpus.meta.vocabulary[t]!));

  const units = Array.from({ length: width }, (_, u) => u);
  let t = performance.now();
  const labels = await new EmbeddedExplainer().explain(units.map((u) => ({ records: unitRecords(explainSet, u, 20, 20, 1) })));
  const explainSec = (performance.now() - t) / 1000;
  t = performance.now();
  const simulator = new EmbeddedSimulator();
  const simulations = await Promise.all(labels.map(async (l) => Float32Array.from((await simulator.simulate(l.label, sentences)).flat())));
  const simulateSec = (performance.now() - t) / 1000;
  t = performance.now();
  for (const u of units) scoreUnit(scoreSet, simulations[u]!, u, { top: 20, random: 20, seed: 1 });
  const scoreSec = (performance.now() - t) / 1000;
  return {
    width,
    explainUnitsPerSec: width / explainSec,
    simulateUnitsPerSec: width / simulateSec,
    scoreUnitsPerSec: width / scoreSec,
    unitsPerSec: width / (explainSec + simulateSec + scoreSec),
    scoringTokens: scoreSet.words.length,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const child = process.argv[2];
  if (child) {
    process.stdout.write(JSON.stringify(await measure(Number(child))));
    return;
  }
  const rows: Row[] = WIDTHS.map((w) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', __filename, String(w)], { encoding: 'utf8' })) as Row);
  console.log('embedded explain + simulate + score, one process per layer width (units per second; peak RSS of that process)');
  console.log('width  explain/s  simulate/s  score/s  all three/s  scoring tokens  peak RSS MiB');
  for (const r of rows)
    console.log(
      `${String(r.width).padStart(5)}  ${r.explainUnitsPerSec.toFixed(1).padStart(9)}  ${r.simulateUnitsPerSec.toFixed(1).padStart(10)}  ${r.scoreUnitsPerSec.toFixed(1).padStart(7)}  ${r.unitsPerSec.toFixed(1).padStart(11)}  ${String(r.scoringTokens).padStart(14)}  ${r.peakRssMiB.toFixed(0).padStart(12)}`,
    );
  saveResults({ explain: rows });
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
