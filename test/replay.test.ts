// Replays the recorded histories of the example pipelines (test/histories/**/*.json: the latest beside record.ts,
// older ones in folders named for the change after them) against today's workflow code: a change that breaks
// determinism for runs already recorded fails here. Refresh with `npm run histories`.
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { bundleWorkflows, installQuietRuntime } from '../temporal/workers';

describe('recorded workflow histories', () => {
  it('replay deterministically with the current workflow code', async () => {
    installQuietRuntime();
    const dir = join(__dirname, 'histories');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 3, `${files.length} recorded histories`);
    const histories = files.map((f) => ({ workflowId: basename(f, '.json'), history: historyFromJSON(JSON.parse(readFileSync(join(dir, f), 'utf8'))) }));
    const workflowBundle = await bundleWorkflows();
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      assert.equal(result.error, undefined, `${result.workflowId}: ${result.error}`);
      replayed++;
    }
    assert.equal(replayed, files.length);
  });
});
