// The Temporal CLI's dev server as a child process on a SQLite file, for tests that stop and restart it.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { startDevServer as start } from '../../temporal/server';

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
