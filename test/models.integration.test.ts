// Your own text, a transformer, export and model.from, through the CLI on a real dev server: a tiny transformer with
// GPT-2 tokens runs on two small text files and a JSONL file (found by a glob), `legible export` writes its final
// model, and a second pipeline started from the export holds the same weights and gets the same held-out loss.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeSafetensors } from '../nn/safetensors';
import { directoryStore } from '../store/open';
import { legibleClient } from '../temporal/client';
import { localEnvironment } from './helpers/dev-server';
import { installQuietRuntime } from '../temporal/workers';
import type { PipelineReport } from '../workflows/pipeline';

const LEGIBLE = join(__dirname, '..', 'bin', 'legible.js');

/** Distinct sentences of plain prose: every combination of a few subjects, verbs and objects. */
function prose(subjects: string[], offset: number): string {
  const verbs = ['watched', 'followed', 'painted', 'described', 'carried', 'remembered'];
  const objects = ['the old bridge', 'a quiet river', 'the morning train', 'a red kite', 'the long road', 'an empty boat', 'the village church'];
  const out: string[] = [];
  subjects.forEach((s, i) => verbs.forEach((v, j) => objects.forEach((o, k) => out.push(`${s} ${v} ${o} ${['at dawn', 'in the rain', 'for hours', 'again'][(i + j + k + offset) % 4]}.`))));
  // Paragraphs of five sentences, separated by blank lines (documents of a .txt file).
  return out.map((s, i) => (i % 5 === 4 ? `${s}\n\n` : `${s} `)).join('');
}

const pipeline = (name: string, o: { model?: string; startingDepth?: number } = {}) => `
name: ${name}
seed: 3
corpus: { source: files, paths: [text/*.txt, "text/**/*.jsonl"], tokenizer: gpt2, sentences: 300, minTokens: 4, maxTokens: 16 }
model: { kind: transformer, layers: 2, dModel: 16, heads: 2, dMlp: 8, contextTokens: 16, vocabularySize: 120${o.model ?? ''} }
training: { epochs: 2, batchSize: 16 }
interpretability: { startingDepth: ${o.startingDepth ?? 0}, explanationSequences: 60, scoringSequences: 25, topExamples: 5, randomExamples: 5, scoringRandomExamples: 5 }
alignment: { sequences: 60, epochs: 1 }
`;

describe('your own text, a transformer, export and model.from', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
  });

  after(async () => {
    await env?.teardown();
  });

  it('runs a tiny transformer on text files with GPT-2 tokens, exports it, and starts again from the export', async () => {
    const store = mkdtempSync(join(tmpdir(), 'legible-models-'));
    const text = join(store, 'text');
    mkdirSync(join(text, 'more'), { recursive: true });
    writeFileSync(join(text, 'a.txt'), prose(['The farmer', 'My sister', 'A stranger', 'The old teacher'], 0));
    writeFileSync(join(text, 'b.txt'), prose(['Our neighbour', 'The painter', 'A young sailor'], 1));
    writeFileSync(join(text, 'more', 'c.jsonl'), prose(['His mother', 'The doctor'], 2).split('\n\n').filter((d) => d.trim()).map((d) => JSON.stringify({ text: d, id: 1 })).join('\n'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [LEGIBLE, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: env.address, LEGIBLE_HOME: store }, timeout: 600_000 });

    const first = join(store, 'first.yaml');
    writeFileSync(first, pipeline('own-text'));
    const run = cli('run', '--processes', '1', first);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const workflowId = /Started (\S+)/.exec(run.stdout)![1]!;
    for (const layer of ['mlp0', 'mlp1']) assert.match(run.stdout, new RegExp(`\\b${layer}\\b`), `the report names ${layer}`);

    const report = (await legibleClient(env.connection, store).workflow.getHandle(workflowId).result()) as PipelineReport;
    const artifacts = directoryStore(store);
    const vocabulary = (await artifacts.getBundle<{ vocabulary: string[] }>(report.corpus.ref)).meta.vocabulary;
    assert.ok(vocabulary.includes(' river') && vocabulary.includes(' the'), 'GPT-2 tokens keep their leading spaces');
    assert.equal(report.layers.length, 2);

    const out = join(store, 'exported');
    const exported = cli('export', workflowId, '--out', out);
    assert.equal(exported.status, 0, exported.stdout + exported.stderr);
    const { tensors } = decodeSafetensors(readFileSync(join(out, 'model.safetensors')), 'model.safetensors');
    const final = (await artifacts.getBundle(report.finalModel)).arrays;
    for (const [name, t] of tensors) assert.deepEqual(t.values, final[name], name);
    assert.equal(tensors.size, Object.keys(final).length);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.kind, 'transformer');
    assert.equal(config.tokenizer, 'gpt2');
    assert.deepEqual(config.vocabulary, vocabulary);
    assert.deepEqual(config.layers.map((l: { legible: number[] }) => l.legible), report.layers.map((l) => [...l.legibleUnits].sort((a, b) => a - b)));
    const lines = readFileSync(join(out, 'explanations.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 16, 'one line per unit of both layers');
    const legible = lines.filter((l) => l.group === 'legible');
    assert.equal(legible.length, report.layers.reduce((n, l) => n + l.legibleUnits.length, 0));
    for (const l of lines) assert.ok(typeof l.label === 'string' && 'scoreBefore' in l && 'scoreAfter' in l && typeof l.index === 'number', JSON.stringify(l));

    // Start again from the export (only the top layer this time): the base model is the exported one.
    const second = join(store, 'second.yaml');
    writeFileSync(second, pipeline('from-export', { model: ', from: exported', startingDepth: 1 }));
    const again = cli('run', '--processes', '1', second);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    const againId = /Started (\S+)/.exec(again.stdout)![1]!;
    const fromExport = (await legibleClient(env.connection, store).workflow.getHandle(againId).result()) as PipelineReport;
    assert.equal(fromExport.base.loss, report.layers[1]!.task.after.loss, 'same held-out loss as the exported model');
    assert.equal(fromExport.layers[0]!.layer, 'mlp1');

    // A pipeline whose model does not fit the export is refused before it runs, naming the difference.
    const misfit = join(store, 'misfit.yaml');
    writeFileSync(misfit, pipeline('misfit', { model: ', from: exported' }).replace('dMlp: 8', 'dMlp: 6'));
    const refused = cli('validate', misfit);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr + refused.stdout, /misfit\.yaml:5:\d+: model\.from: the model in .* its dMlp is 8, the pipeline's is 6/);
    // A corpus file that is missing is named, at the corpus.paths line.
    const missing = join(store, 'missing.yaml');
    writeFileSync(missing, pipeline('missing').replace('text/*.txt', 'text/nowhere.txt'));
    const named = cli('validate', missing);
    assert.notEqual(named.status, 0);
    assert.match(named.stderr + named.stdout, /missing\.yaml:4:\d+: corpus\.paths: .*nowhere\.txt/);
  });
});
