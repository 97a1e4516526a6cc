// `legible explain` and `legible score` on JSONL activation records, as a user runs them: the embedded provider, a
// pipeline file's OpenAI-compatible provider (the local fake endpoint), JSON output, and file:line errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startFakeOpenAI, toyInterpreter } from './helpers/fake-openai';

const ROOT = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'legible-cli-'));
const run = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'legible.js'), ...args], { cwd: dir, env: { ...process.env, LEGIBLE_HOME: join(dir, 'home') } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};
const file = (name: string, lines: unknown[]) => {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
};

const ANIMALS = file('animals.jsonl', [
  { tokens: ['the', 'dog', 'chased', 'a', 'cat'], activations: [0, 5, 0, 0, 4] },
  { tokens: ['a', 'horse', 'ran'], activations: [0, 6, 0] },
  { tokens: ['the', 'car', 'stopped'], activations: [0, 0, 0] },
  { tokens: ['my', 'bird', 'sang'], activations: [0, 3, 0] },
]);

describe('legible explain and legible score', () => {
  it('labels a unit from its records and scores the label, as JSON', async () => {
    const r = await run('explain', ANIMALS, '--json');
    assert.equal(r.code, 0, r.stderr);
    const { label, score } = JSON.parse(r.stdout) as { label: string; score: number };
    assert.match(label, /animal/);
    assert.ok(score > 0.9, `${score}`);
  });

  it('scores a given label: the pooled correlation over every token', async () => {
    const good = JSON.parse((await run('score', ANIMALS, '--label', 'words for animals', '--json')).stdout) as { score: number };
    const bad = JSON.parse((await run('score', ANIMALS, '--label', 'words for vehicles', '--json')).stdout) as { score: number };
    // By hand: activations [0,5,0,0,4, 0,6,0, 0,0,0, 0,3,0] against 10 on dog, cat, horse, bird.
    const acts = [0, 5, 0, 0, 4, 0, 6, 0, 0, 0, 0, 0, 3, 0];
    const sim = [0, 10, 0, 0, 10, 0, 10, 0, 0, 0, 0, 0, 10, 0];
    const m = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    const [ma, ms] = [m(acts), m(sim)];
    const cov = acts.reduce((s, a, i) => s + (a - ma) * (sim[i]! - ms), 0);
    const r = cov / Math.sqrt(acts.reduce((s, a) => s + (a - ma) ** 2, 0) * sim.reduce((s, b) => s + (b - ms) ** 2, 0));
    assert.ok(Math.abs(good.score - Math.round(r * 1e4) / 1e4) < 1e-9, `${good.score} vs ${r}`);
    assert.ok(bad.score < good.score);
  });

  it('says so when a score of 0 is 0 by definition: a label the simulator applies to no token', async () => {
    const r = await run('score', ANIMALS, '--label', 'words for weather');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /score: 0\.0000/);
    assert.match(r.stderr, /predicts 0 for every token: it found nothing in "words for weather"/);
    assert.doesNotMatch((await run('score', ANIMALS, '--label', 'words for animals')).stderr, /every token/);
  });

  it('uses a pipeline file\'s OpenAI-compatible explainer and simulator', async () => {
    const server = await startFakeOpenAI(toyInterpreter);
    try {
      const pipeline = join(dir, 'llm.yaml');
      writeFileSync(pipeline, `name: cli\nmodel: { hidden: [{ name: h, width: 2 }] }\nexplainer: &llm { provider: openai, model: toy, baseURL: "${server.baseURL}", method: json }\nsimulator: *llm\n`);
      const r = await run('explain', ANIMALS, '--explainer', pipeline, '--simulator', pipeline, '--json');
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { label: string }).label, 'words for animals, e.g. "dog", "horse"');
      assert.ok(server.requests.length >= 2, 'one explain and one simulate request');
    } finally {
      await server.close();
    }
  });

  it('names every bad line as file:line, and a missing file or label clearly', async () => {
    const bad = file('bad.jsonl', ['{"tokens": ["a"], "activations": [1, 2]}', 'not json', '', '{"tokens": ["x"], "activations": ["y"]}']);
    const r = await run('score', bad, '--label', 'x');
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${bad}:1: 1 tokens but 2 activations`));
    assert.match(r.stderr, new RegExp(`${bad}:2: not JSON`));
    assert.match(r.stderr, new RegExp(`${bad}:4: activations.0: `));
    assert.match((await run('score', join(dir, 'nosuch.jsonl'), '--label', 'x')).stderr, /nosuch\.jsonl: cannot read the file/);
    const noLabel = await run('score', ANIMALS);
    assert.equal(noLabel.code, 2);
    assert.match(noLabel.stderr, /--label/);
    assert.equal((await run('explain', '--help')).code, 0);
  });
});
