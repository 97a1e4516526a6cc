// Starts the Temporal CLI's dev server as a child process on a SQLite file, for tests that stop and restart it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';
import { ensureTemporalCli, tryConnect } from '../../temporal/server';

export interface DevServer {
  address: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startDevServer(dbFile: string, port: number): Promise<DevServer> {
  const child = spawn(
    ensureTemporalCli(),
    ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', dbFile, '--log-level', 'error', ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`])],
    { stdio: 'ignore' },
  );
  const address = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const c = await tryConnect(address, '1s');
    if (c) {
      await c.close();
      return {
        address,
        child,
        async stop(signal = 'SIGTERM') {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill(signal);
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  child.kill('SIGKILL');
  throw new Error(`the dev server did not start on ${address}`);
}
