// Temporal dev servers for tests: the testing package's local environment on the pinned CLI, and the CLI's dev server
// as a child process on a SQLite file, for tests that stop and restart it.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { ensureTemporalCli, startDevServer as start } from '../../temporal/server';

export interface DevServer {
  address: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startDevServer(dbFile: string, port: number): Promise<DevServer> {
  const { child, connection } = await start({ host: '127.0.0.1', port, dbFile, ui: false });
  await connection.close();
  return {
    address: `127.0.0.1:${port}`,
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * A Temporal dev server for a test, from the project's pinned Temporal CLI (built by `legible setup`), with Legible's
 * search attributes registered. The binary is run once first: a warm binary starts within createLocal's fixed wait.
 */
export async function localEnvironment(): Promise<TestWorkflowEnvironment> {
  const path = ensureTemporalCli();
  spawnSync(path, ['--version']);
  return TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path }, searchAttributes: SEARCH_ATTRIBUTES } });
}
