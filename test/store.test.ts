// The artifact store: content addressing, round trips, corruption detection and memoised steps.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { directoryStore } from '../store/open';

const fresh = () => {
  const root = mkdtempSync(join(tmpdir(), 'legible-store-'));
  return Object.assign(directoryStore(root), { root });
};

describe('artifact store', () => {
  it('gives processes that make a new store at once one identity, never an empty one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'legible-id-race-'));
    const script = `require(${JSON.stringify(join(__dirname, '..', 'store', 'open.ts'))}).directoryStore(${JSON.stringify(root)}).id().then((id) => process.stdout.write(id))`;
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => execFile(process.execPath, ['--import', 'tsx', '-e', script], (err, out) => (err ? reject(err) : resolve(out))))),
    );
    assert.match(ids[0]!, /^[0-9a-f]{16}$/);
    assert.deepEqual(new Set(ids), new Set([ids[0]]));
  });

  it('names an artifact by its content and stores it once', async () => {
    const store = fresh();
    const a = await store.putJson('labels', [{ unit: 0, label: 'animals' }]);
    const b = await store.putJson('labels', [{ unit: 0, label: 'animals' }]);
    assert.deepEqual(a, b);
    assert.equal(a.sha256.length, 64);
    assert.deepEqual(await store.getJson(a), [{ unit: 0, label: 'animals' }]);
    assert.equal(readdirSync(join(store.root, 'artifacts', a.sha256.slice(0, 2))).length, 1);
  });

  it('round-trips a bundle of typed arrays and metadata', async () => {
    const store = fresh();
    const ref = await store.putBundle('activations', { meta: { layer: 'h1' }, arrays: { x: Float32Array.from([1.5, -2]), ids: Int32Array.from([3, 4, 5]) } });
    const back = await store.getBundle<{ layer: string }>(ref);
    assert.deepEqual(back.meta, { layer: 'h1' });
    assert.deepEqual([...back.arrays.x!], [1.5, -2]);
    assert.ok(back.arrays.ids instanceof Int32Array);
    assert.deepEqual([...back.arrays.ids!], [3, 4, 5]);
  });

  it('refuses a corrupt or missing artifact with a clear error', async () => {
    const store = fresh();
    const ref = await store.putJson('labels', { a: 1 });
    writeFileSync(join(store.root, 'artifacts', ref.sha256.slice(0, 2), ref.sha256), '{"a":2}');
    await assert.rejects(store.getJson(ref), /artifact labels [0-9a-f]{12} is corrupt/);
    await assert.rejects(store.getJson({ ...ref, sha256: '0'.repeat(64) }), /is missing from the store/);
  });

  it('memoises a step by its inputs', async () => {
    const store = fresh();
    let calls = 0;
    const compute = async () => ({ n: ++calls });
    const first = await store.memoise('explainNeurons', { layer: 'h1' }, compute);
    const again = await store.memoise('explainNeurons', { layer: 'h1' }, compute);
    const other = await store.memoise('explainNeurons', { layer: 'h2' }, compute);
    assert.deepEqual([first, again, other], [{ result: { n: 1 }, reused: false }, { result: { n: 1 }, reused: true }, { result: { n: 2 }, reused: false }]);
  });

  it('computes a step that two workers reach at once only once; the other waits for its result', async () => {
    const store = fresh();
    let calls = 0;
    let waits = 0;
    const compute = async () => {
      await new Promise((r) => setTimeout(r, 1200));
      return { n: ++calls };
    };
    const [a, b] = await Promise.all([store.memoise('trainBaseModel', { seed: 1 }, compute, () => waits++), store.memoise('trainBaseModel', { seed: 1 }, compute, () => waits++)]);
    assert.equal(calls, 1);
    assert.deepEqual([a.result, b.result], [{ n: 1 }, { n: 1 }]);
    assert.deepEqual([a.reused, b.reused].sort(), [false, true]);
    assert.ok(waits >= 2, `the waiting step was told ${waits} times`);
  });

  it('takes over a step whose worker died while computing it, and releases a step that failed', async () => {
    const store = fresh();
    // A lock as a killed worker leaves it: its process no longer runs.
    const gone = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const lock = join(store.root, `${store.recordKey('prepareCorpus', { s: 1 })}.lock`);
    mkdirSync(join(lock, '..'), { recursive: true });
    writeFileSync(lock, JSON.stringify({ pid: gone, host: hostname() }));
    assert.deepEqual(await store.memoise('prepareCorpus', { s: 1 }, async () => ({ n: 1 })), { result: { n: 1 }, reused: false });
    await assert.rejects(store.memoise('prepareCorpus', { s: 2 }, async () => Promise.reject(new Error('out of memory'))), /out of memory/);
    assert.deepEqual(await store.memoise('prepareCorpus', { s: 2 }, async () => ({ n: 2 })), { result: { n: 2 }, reused: false });
    assert.deepEqual(readdirSync(join(store.root, 'steps')).filter((f) => f.endsWith('.lock')), []);
  });
});
