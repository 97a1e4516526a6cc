// The S3 artifact store against a real S3 server (Versity's gateway, built by `legible setup --s3-server`): round trips,
// the per-machine cache, one identity per bucket, once-only steps across "machines" (store instances with caches of
// their own), taking over a dead worker's lease, and a clear error at start for every kind of bad configuration.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ArtifactStore } from '../store/artifacts';
import { openCheckedStore, openStore } from '../store/open';
import { S3Objects, s3ClientConfig } from '../store/s3';
import { startS3Server, type S3Server } from '../store/s3-server';
import { freePort } from '../temporal/server';

const ROOT = join(__dirname, '..');
const BUCKET = 'legible-test';

describe('S3 artifact store (real S3 server)', () => {
  let server: S3Server;
  let env: NodeJS.ProcessEnv;
  const home = () => mkdtempSync(join(tmpdir(), 'legible-s3-home-'));
  /** A store as one machine sees it: its own LEGIBLE_HOME (cache), the shared bucket; leases shortened for the test. */
  const machine = (prefix: string, lease = { renewMs: 200, staleMs: 1500 }) =>
    new ArtifactStore(new S3Objects({ bucket: BUCKET, prefix }, s3ClientConfig(env), lease), join(home(), 's3-cache'));

  before(async () => {
    server = await startS3Server({ dir: mkdtempSync(join(tmpdir(), 'legible-s3-')), buckets: [BUCKET] });
    env = { LEGIBLE_STORE: `s3://${BUCKET}/runs`, AWS_ENDPOINT_URL_S3: server.endpoint, AWS_ACCESS_KEY_ID: server.accessKey, AWS_SECRET_ACCESS_KEY: server.secretKey, AWS_REGION: 'us-east-1' };
  });
  after(() => server?.stop());

  it('round-trips artifacts, and a second machine reads each one over the network once', async () => {
    const a = machine('roundtrip');
    const ref = await a.putBundle('activations', { meta: { layer: 'h1' }, arrays: { x: Float32Array.from([1.5, -2]), ids: Int32Array.from([3, 4]) } });
    assert.deepEqual(await a.putBundle('activations', { meta: { layer: 'h1' }, arrays: { x: Float32Array.from([1.5, -2]), ids: Int32Array.from([3, 4]) } }), ref);
    const b = machine('roundtrip');
    let reads = 0;
    const read = b.objects.read.bind(b.objects);
    b.objects.read = (key) => (reads++, read(key));
    for (let i = 0; i < 3; i++) {
      const back = await b.getBundle<{ layer: string }>(ref);
      assert.deepEqual([back.meta.layer, [...back.arrays.x!], [...back.arrays.ids!]], ['h1', [1.5, -2], [3, 4]]);
    }
    assert.equal(reads, 1, 'fetched once, then read from the machine\'s cache');
    assert.ok(existsSync(join(b.cache!, 'artifacts', ref.sha256.slice(0, 2), ref.sha256)));
    await assert.rejects(b.getJson({ ...ref, sha256: '0'.repeat(64) }), /artifact activations 000000000000 is missing from the store at s3:\/\/legible-test\/roundtrip at http/);
  });

  it('refuses an artifact whose bytes in the bucket do not match its name', async () => {
    const a = machine('corrupt');
    const ref = await a.putJson('labels', { a: 1 });
    const client = new S3Client(s3ClientConfig(env));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `corrupt/artifacts/${ref.sha256.slice(0, 2)}/${ref.sha256}`, Body: '{"a":2}' }));
    await assert.rejects(machine('corrupt').getJson(ref), /artifact labels [0-9a-f]{12} is corrupt in s3:\/\/legible-test\/corrupt/);
  });

  it('gives every machine of a bucket one identity, made once', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => machine('identity').id()));
    assert.match(ids[0]!, /^[0-9a-f]{16}$/);
    assert.deepEqual(new Set(ids), new Set([ids[0]]));
    assert.notEqual(await machine('identity-other').id(), ids[0]);
  });

  it('computes a step that workers on several machines reach at once only once; the others wait for its result', async () => {
    let calls = 0;
    const compute = async () => {
      await new Promise((r) => setTimeout(r, 1000)); // longer than a renewal: the lease is renewed while it computes
      return { n: ++calls };
    };
    const results = await Promise.all([1, 2, 3].map(() => machine('once').memoise('trainBaseModel', { seed: 1 }, compute)));
    assert.equal(calls, 1);
    assert.deepEqual(results.map((r) => r.result), [{ n: 1 }, { n: 1 }, { n: 1 }]);
    assert.deepEqual(results.map((r) => r.reused).sort(), [false, true, true]);
    assert.deepEqual(await machine('once').memoise('trainBaseModel', { seed: 1 }, compute), { result: { n: 1 }, reused: true });
  });

  it('takes over a step whose worker died holding its lease, and releases a step that failed', async () => {
    const dead = machine('takeover');
    const lock = `${dead.recordKey('prepareCorpus', { s: 1 })}.lock`;
    // A lease as a killed worker leaves it: never renewed, never released.
    assert.ok(await dead.objects.create(lock, Buffer.from(JSON.stringify({ owner: 'a worker killed mid-step' }))));
    const started = Date.now();
    assert.deepEqual(await machine('takeover', { renewMs: 200, staleMs: 1500 }).memoise('prepareCorpus', { s: 1 }, async () => ({ n: 1 })), { result: { n: 1 }, reused: false });
    assert.ok(Date.now() - started >= 1500, 'waited for the lease to go stale');
    const live = machine('takeover');
    await assert.rejects(live.memoise('prepareCorpus', { s: 2 }, async () => Promise.reject(new Error('out of memory'))), /out of memory/);
    const started2 = Date.now();
    assert.deepEqual(await machine('takeover').memoise('prepareCorpus', { s: 2 }, async () => ({ n: 2 })), { result: { n: 2 }, reused: false });
    assert.ok(Date.now() - started2 < 1500, 'a released lease is not waited for');
  });

  it('keeps step records (a checkpoint\'s reference) readable from every machine, and removes them', async () => {
    await machine('records').writeRecord('trainBaseModel.checkpoint', { k: 1 }, { sha256: 'ab' });
    assert.deepEqual(await machine('records').readRecord('trainBaseModel.checkpoint', { k: 1 }), { sha256: 'ab' });
    await machine('records').removeRecord('trainBaseModel.checkpoint', { k: 1 });
    assert.equal(await machine('records').readRecord('trainBaseModel.checkpoint', { k: 1 }), undefined);
  });

  it('is what LEGIBLE_STORE names, with its cache under LEGIBLE_HOME', async () => {
    const dir = home();
    const store = await openCheckedStore(dir, env);
    assert.equal(store.location, `s3://${BUCKET}/runs at ${server.endpoint}`);
    assert.equal(store.cache, join(dir, 's3-cache', BUCKET, 'runs'));
    assert.equal(openStore(dir, {}).location, dir, 'without LEGIBLE_STORE, the directory');
  });

  it('waits out an S3 server that stops and comes back, and gives up on one that stays away', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-s3-restart-'));
    const first = await startS3Server({ dir, buckets: [BUCKET] });
    const address = first.endpoint.replace('http://', '');
    const settings = { ...env, AWS_ENDPOINT_URL_S3: first.endpoint, AWS_ACCESS_KEY_ID: first.accessKey, AWS_SECRET_ACCESS_KEY: first.secretKey };
    const on = (patienceMs: number) => new ArtifactStore(new S3Objects({ bucket: BUCKET, prefix: 'restart' }, s3ClientConfig(settings), { patienceMs }), join(home(), 's3-cache'));
    const ref = await on(30_000).putJson('labels', { written: 'before' });
    await first.stop();
    const reading = on(30_000).getJson(ref); // another machine, nothing cached: it needs the server
    const writing = on(30_000).putJson('labels', { written: 'during' });
    await new Promise((r) => setTimeout(r, 2000));
    const again = await startS3Server({ dir, addresses: [address], accessKey: first.accessKey, secretKey: first.secretKey });
    try {
      assert.deepEqual(await reading, { written: 'before' });
      assert.deepEqual(await on(1000).getJson(await writing), { written: 'during' });
    } finally {
      await again.stop();
    }
    const started = Date.now();
    await assert.rejects(on(1500).getJson({ ...ref, sha256: '1'.repeat(64) }), (e: Error) => e.name === 'UnreachableStoreError' && /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED/.test(e.message));
    assert.ok(Date.now() - started >= 1500, 'it tried for its patience');
  });

  it('`legible s3-server DIR` serves a bucket and prints the settings that reach it', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'legible.js'), 's3-server', mkdtempSync(join(tmpdir(), 'legible-s3-cli-')), '--address', address, '--bucket', 'tryout'], { env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /export (.*)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`legible s3-server exited (${code}): ${out}`)));
    });
    const settings = Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string]));
    assert.equal(settings.LEGIBLE_STORE, 's3://tryout/legible');
    assert.equal(settings.AWS_ENDPOINT_URL_S3, `http://${address}`);
    await openCheckedStore(home(), settings);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  describe('bad configuration fails at start, naming what to fix', () => {
    const check = (overrides: NodeJS.ProcessEnv) => openCheckedStore(home(), { ...env, ...overrides });
    it('an unknown bucket', () => check({ LEGIBLE_STORE: 's3://no-such-bucket/x' }).then(() => assert.fail('no error'), (e: Error) => assert.match(e.message, /bucket "no-such-bucket" does not exist/)));
    it('a wrong access key', () => assert.rejects(check({ AWS_ACCESS_KEY_ID: 'nobody' }), /the server does not know the access key "nobody" \(AWS_ACCESS_KEY_ID\)/));
    it('a wrong secret key', () => assert.rejects(check({ AWS_SECRET_ACCESS_KEY: 'wrong' }), /the secret key does not match the access key "legible" \(AWS_SECRET_ACCESS_KEY\)/));
    it('an endpoint nothing answers at', async () => {
      const endpoint = `http://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      await assert.rejects(check({ AWS_ENDPOINT_URL_S3: endpoint }), new RegExp(`cannot reach ${endpoint.replace(/\./g, '\\.')} \\(ECONNREFUSED.*check AWS_ENDPOINT_URL_S3`));
      assert.ok(Date.now() - started < 5000, 'one try, not the SDK\'s retries with backoff');
    });
    it('an endpoint that answers, but not as an S3 server', async () => {
      const web = createServer((_req, res) => res.writeHead(404).end());
      await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
      try {
        const endpoint = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
        await assert.rejects(check({ AWS_ENDPOINT_URL_S3: endpoint }), /the endpoint does not answer as an S3 server \(.*\); check AWS_ENDPOINT_URL_S3/);
        await assert.rejects(check({ AWS_ENDPOINT_URL_S3: server.endpoint.replace('http:', 'https:') }), /the endpoint does not answer as an S3 server \(.*\); check AWS_ENDPOINT_URL_S3/);
      } finally {
        web.close();
      }
    });
    it('malformed settings', async () => {
      await assert.rejects(check({ LEGIBLE_STORE: 'bucket/prefix' }), /LEGIBLE_STORE="bucket\/prefix" should be s3:\/\/bucket or s3:\/\/bucket\/prefix/);
      await assert.rejects(check({ LEGIBLE_STORE: 's3://Bad_Bucket' }), /"Bad_Bucket" is not a valid bucket name/);
      await assert.rejects(check({ LEGIBLE_STORE: 's3://bucket//x' }), /the prefix "\/x" has an empty, "\." or "\.\." part/);
      await assert.rejects(check({ AWS_ENDPOINT_URL_S3: 'localhost:9000' }), /AWS_ENDPOINT_URL_S3="localhost:9000" should be an http:\/\/ or https:\/\/ address/);
      await assert.rejects(check({ AWS_SECRET_ACCESS_KEY: '' }), /AWS_SECRET_ACCESS_KEY is not set, but AWS_ACCESS_KEY_ID is/);
    });
    it('in a worker and in `legible run`, before anything starts', () => {
      const bad = { ...process.env, ...env, LEGIBLE_STORE: 's3://no-such-bucket', LEGIBLE_HOME: home(), TEMPORAL_ADDRESS: '127.0.0.1:1' };
      const worker = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'worker.ts'), '--tags', 'gpu'], { env: bad, encoding: 'utf8', timeout: 60_000 });
      assert.equal(worker.status, 1);
      assert.match(worker.stderr, /worker: the S3 store s3:\/\/no-such-bucket at http:\/\/127\.0\.0\.1:\d+: bucket "no-such-bucket" does not exist/);
      const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'legible.js'), 'run', join(ROOT, 'pipelines', 'demo.yaml')], { env: bad, encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /bucket "no-such-bucket" does not exist/);
      assert.doesNotMatch(run.stderr + run.stdout, /Temporal|Started/, 'it stops before it looks for a server');
    });
  });
});
