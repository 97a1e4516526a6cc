// Benchmark: the demo on the S3 store against the local store, side by side on this machine. Starts one Temporal dev
// server and one S3 server (Versity's gateway on loopback, built by `legible setup --s3-server`), then runs
// `legible run pipelines/demo.yaml` (the README's command: its worker processes, its defaults) once with an empty
// local store and once with LEGIBLE_STORE=s3://… and an empty LEGIBLE_HOME (the cache), and prints both wall times,
// their ratio (target: at most 1.2) and what the S3 run put in the bucket. Writes them under "s3Store" in
// bench/results/latest.json.
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { s3ClientConfig } from '../store/s3';
import { startS3Server } from '../store/s3-server';
import { freePort, startDevServer } from '../temporal/server';
import { saveResults } from './results';

const ROOT = join(__dirname, '..');
const BUCKET = 'legible-bench';
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `legible-bench-${name}-`));

/** Runs the demo with `env` added; resolves with its wall time in seconds, rejects with its output if it fails. */
function runDemo(env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'legible.js'), 'run', join(ROOT, 'pipelines', 'demo.yaml')], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
    child.stderr.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`legible run exited with ${code}:\n${out}`))));
  });
}

async function main(): Promise<void> {
  const port = await freePort();
  const temporal = await startDevServer({ host: '127.0.0.1', port, dbFile: join(tmp('db'), 'temporal.sqlite'), ui: false });
  const s3 = await startS3Server({ dir: tmp('s3'), buckets: [BUCKET] });
  try {
    const address = `127.0.0.1:${port}`;
    const s3env = { LEGIBLE_STORE: `s3://${BUCKET}/demo`, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
    const localSeconds = await runDemo({ TEMPORAL_ADDRESS: address, LEGIBLE_HOME: tmp('local') });
    console.log(`demo, local store: ${localSeconds.toFixed(1)} s`);
    const s3Seconds = await runDemo({ TEMPORAL_ADDRESS: address, LEGIBLE_HOME: tmp('s3-cache'), ...s3env });
    console.log(`demo, S3 store:    ${s3Seconds.toFixed(1)} s`);

    // What the S3 run stored: objects and bytes under the prefix, by kind of key.
    const client = new S3Client(s3ClientConfig(s3env));
    const byKind: Record<string, { objects: number; bytes: number }> = {};
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'demo/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const kind = o.Key!.split('/')[1]!;
        byKind[kind] ??= { objects: 0, bytes: 0 };
        byKind[kind].objects++;
        byKind[kind].bytes += o.Size ?? 0;
      }
      token = page.NextContinuationToken;
    } while (token);

    const ratio = s3Seconds / localSeconds;
    console.log(`S3 / local wall time: ${ratio.toFixed(3)} (target ≤ 1.2: ${ratio <= 1.2 ? 'met' : 'NOT met'})`);
    console.log(`in the bucket: ${Object.entries(byKind).map(([k, v]) => `${k} ${v.objects} objects, ${(v.bytes / 2 ** 20).toFixed(1)} MiB`).join('; ')}`);
    saveResults({ s3Store: { localSeconds, s3Seconds, ratio, bucket: byKind } });
  } finally {
    await s3.stop();
    await temporal.connection.close();
    const exited = new Promise((r) => temporal.child.once('exit', r));
    temporal.child.kill('SIGTERM');
    await exited;
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
