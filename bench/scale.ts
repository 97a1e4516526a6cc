// Benchmark: how a whole pipeline's wall time and peak memory grow with its size. Runs a small base pipeline, then
// the same pipeline with the corpus doubled, the hidden width doubled, and the number of hidden layers doubled (each
// layer made legible in turn), each in its own child process with its own empty artifact store (nothing reused) and
// in-process workers on one local dev server. Prints the growth factor per doubling and writes the figures under
// "scale" in bench/results/latest.json.
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveResults } from './results';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { startPipelineRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix } from '../temporal/workers';

interface Size {
  sentences: number;
  width: number;
  layers: number;
}

const BASE: Size = { sentences: 4000, width: 32, layers: 1 };
const VARIANTS: { name: string; size: Size }[] = [
  { name: 'base', size: BASE },
  { name: 'corpus x2', size: { ...BASE, sentences: 2 * BASE.sentences } },
  { name: 'width x2', size: { ...BASE, width: 2 * BASE.width } },
  { name: 'layers x2', size: { ...BASE, layers: 2 * BASE.layers } },
];

function pipelineYaml(s: Size): string {
  const hidden = Array.from({ length: s.layers }, (_, i) => `{ name: h${i + 1}, width: ${s.width} }`).join(', ');
  return `name: bench-scale
seed: 5
corpus: { sentences: ${s.sentences} }
model: { hidden: [${hidden}] }
training: { epochs: 2 }
interpretability: { explanationSequences: 800, scoringSequences: 200 }
alignment: { sequences: 800, epochs: 2 }
`;
}

interface Measured {
  wallSeconds: number;
  peakRssMiB: number;
}

/** Child mode: run one pipeline to the end with in-process workers and an empty store; print wall time and peak RSS. */
async function runChild(address: string, size: Size): Promise<void> {
  installQuietRuntime();
  const yaml = pipelineYaml(size);
  const started = performance.now();
  const storeRoot = mkdtempSync(join(tmpdir(), 'legible-scale-'));
  const workers = await startWorkers({ address, tags: ALL_TAGS, workflows: true, storeRoot });
  try {
    const connection = await Connection.connect({ address });
    const queuePrefix = await storeQueuePrefix(storeRoot);
    const { handle } = await startPipelineRun(connection, expandPlan(parsePipeline(yaml), yaml, queuePrefix), yaml, { queuePrefix, workflowId: `bench-scale-${size.sentences}-${size.width}-${size.layers}-${Date.now()}` });
    await handle.result();
    await connection.close();
  } finally {
    await workers.shutdown();
  }
  const result: Measured = { wallSeconds: (performance.now() - started) / 1000, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return runChild(process.argv[3]!, JSON.parse(process.argv[4]!) as Size);
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: ensureTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES } });
  try {
    const rows = VARIANTS.map(({ name, size }) => {
      const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--child', env.address, JSON.stringify(size)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      return { name, ...size, ...(JSON.parse(out) as Measured) };
    });
    const base = rows[0]!;
    const scale = rows.map((r) => ({ ...r, timeGrowth: r.wallSeconds / base.wallSeconds, memoryGrowth: r.peakRssMiB / base.peakRssMiB }));
    console.log(`scale: one pipeline per row, each in its own process with an empty store (2 training epochs, 800 explanation and alignment sentences)`);
    console.log('variant     sentences  width  layers  wall s  peak RSS MiB  time growth  memory growth');
    for (const r of scale)
      console.log(
        `${r.name.padEnd(12)}${String(r.sentences).padStart(9)}  ${String(r.width).padStart(5)}  ${String(r.layers).padStart(6)}  ${r.wallSeconds.toFixed(1).padStart(6)}  ${r.peakRssMiB.toFixed(0).padStart(12)}  ${r.timeGrowth.toFixed(2).padStart(10)}x  ${r.memoryGrowth.toFixed(2).padStart(12)}x`,
      );
    saveResults({ scale });
  } finally {
    await env.teardown();
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
