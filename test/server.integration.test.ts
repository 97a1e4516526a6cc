// The store's dev server outlives the commands that use it: `legible run` starts it in the background when none
// answers and leaves it up; two runs in one store, started together and one after the other, both finish; the Web UI
// still answers after both commands have ended; `legible server status` and `stop` manage it; a second server on the
// same store is refused.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..');
const home = mkdtempSync(join(tmpdir(), 'legible-server-'));
const PIPELINE = join(home, 'tiny.yaml');
writeFileSync(
  PIPELINE,
  `name: tiny
seed: 3
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 8 }] }
training: { epochs: 1 }
interpretability: { explanationSequences: 300, scoringSequences: 100 }
alignment: { sequences: 300, epochs: 1 }
`,
);

const free = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A port whose UI port (+ 1000) is free too. */
async function serverPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await free(port)) && (await free(port + 1000))) return port;
  }
}

describe('the dev server outlives commands', () => {
  let address = '';
  const legible = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', 'legible.js'), ...args], { cwd: ROOT, env: { ...process.env, LEGIBLE_HOME: home, TEMPORAL_ADDRESS: address } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  after(async () => {
    await legible('server', 'stop');
  });

  it('two runs in one store, together and staggered, both finish; the UI answers after both have ended', async () => {
    const port = await serverPort();
    address = `localhost:${port}`;
    assert.match((await legible('server', 'status')).stdout, /no dev server of this store runs/);
    const together = await Promise.all([legible('run', PIPELINE, '--processes', '1'), legible('run', PIPELINE, '--processes', '1')]);
    for (const r of together) assert.equal(r.code, 0, r.stderr);
    const ids = together.map((r) => r.stdout.match(/^Started (\S+)/m)![1]);
    assert.notEqual(ids[0], ids[1], 'two runs started in the same second have ids of their own');
    const staggered = await legible('run', PIPELINE, '--processes', '1');
    assert.equal(staggered.code, 0, staggered.stderr);
    assert.doesNotMatch(staggered.stderr, /starting the dev server/, 'the later run finds the server the first one started');

    const status = await legible('server', 'status');
    assert.match(status.stdout, new RegExp(`runs at localhost:${port} \\(pid \\d+`));
    const ui = await fetch(`http://localhost:${port + 1000}/`);
    assert.equal(ui.status, 200);
    assert.match((await legible('runs')).stdout, /COMPLETED[\s\S]*COMPLETED[\s\S]*COMPLETED/);

    // A second server on the same store (another port) would share its SQLite file: refused.
    const other = await serverPort();
    const saved = address;
    address = `localhost:${other}`;
    const refused = await legible('runs');
    address = saved;
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /this store's dev server already runs at localhost:\d+/);

    // A run still going on the server (started with no workers, it waits): stop refuses, --force stops it anyway.
    const waiting = spawn(process.execPath, [join(ROOT, 'bin', 'legible.js'), 'run', PIPELINE, '--no-workers'], { cwd: ROOT, env: { ...process.env, LEGIBLE_HOME: home, TEMPORAL_ADDRESS: address }, stdio: 'ignore' });
    try {
      for (let i = 0; !/RUNNING/.test((await legible('runs')).stdout); i++) {
        assert.ok(i < 60, 'the waiting run appears');
        await new Promise((r) => setTimeout(r, 500));
      }
      const refusedStop = await legible('server', 'stop');
      assert.equal(refusedStop.code, 1);
      assert.match(refusedStop.stderr, /1 run is still going on this server .*--force/);
      assert.match((await legible('server', 'status')).stdout, /runs at localhost/);
    } finally {
      waiting.kill('SIGKILL');
    }
    assert.match((await legible('server', 'stop', '--force')).stdout, /stopped the dev server/);
    assert.match((await legible('server', 'status')).stdout, /no dev server of this store runs/);
  });
});
