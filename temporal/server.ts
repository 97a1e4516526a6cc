// The Temporal server and CLI helpers: finds the Temporal CLI (or builds the pinned version with Go into .tools/bin),
// connects to TEMPORAL_ADDRESS, and when nothing answers on a local address starts `temporal server start-dev` with
// a SQLite file under .legible/ (history survives restarts), its Web UI, and Legible's search attributes.
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from './search-attributes';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const LOCAL_CLI = join(PROJECT_ROOT, '.tools', 'bin', 'temporal');

export function defaultAddress(): string {
  return process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
}

export function stateDir(): string {
  return process.env.LEGIBLE_HOME ?? join(PROJECT_ROOT, '.legible');
}

/** The Temporal CLI to use: $TEMPORAL_CLI, the project's own build, or `temporal` on PATH. */
export function findTemporalCli(): string | undefined {
  const candidates = [process.env.TEMPORAL_CLI, LOCAL_CLI, ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'temporal'))];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

/** Finds the Temporal CLI or builds the pinned version into .tools/bin with `go install` (minutes the first time). */
export function ensureTemporalCli(log: (line: string) => void = console.error): string {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new Error(
      'No Temporal CLI was found and Go is not installed to build one.\n' +
        `Install Go (https://go.dev/dl/) and run \`npm run setup\`, or install the Temporal CLI yourself and set TEMPORAL_CLI to its path.`,
    );
  }
  log(`Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${LOCAL_CLI}: a few minutes the first time, seconds after.`);
  const built = spawnSync('go', ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, GOBIN: join(PROJECT_ROOT, '.tools', 'bin') },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (built.status !== 0 || !existsSync(LOCAL_CLI)) throw new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit code ${built.status})`);
  // Warm the binary: its first start after a build is slow, and some callers wait only seconds for the server.
  spawnSync(LOCAL_CLI, ['--version']);
  return LOCAL_CLI;
}

export async function tryConnect(address: string, timeout = '2s'): Promise<Connection | undefined> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeout });
    await connection.workflowService.getSystemInfo({});
    return connection;
  } catch {
    return undefined;
  }
}

export interface Server {
  connection: Connection;
  address: string;
  /** Web UI address, where known. */
  uiUrl: string;
  /** Stops the dev server if this process started it; closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to the Temporal server at `address`; if none answers and the address is local, starts the dev server,
 * waits for it, and registers Legible's search attributes.
 */
export async function connectOrStartServer(address = defaultAddress(), log: (line: string) => void = console.error): Promise<Server> {
  const [host, portText] = splitAddress(address);
  const uiUrl = process.env.TEMPORAL_UI_URL ?? `http://${host === '127.0.0.1' ? 'localhost' : host}:${Number(portText) + 1000}`;
  let connection = await tryConnect(address);
  let child: ChildProcess | undefined;
  if (!connection) {
    if (!['localhost', '127.0.0.1', '::1'].includes(host))
      throw new Error(`No Temporal server answers at ${address} (TEMPORAL_ADDRESS). Start it, or unset TEMPORAL_ADDRESS to use a local dev server.`);
    ensureTemporalCli(log);
    const dir = stateDir();
    mkdirSync(dir, { recursive: true });
    const db = join(dir, 'temporal.sqlite');
    log(`No Temporal server at ${address}: starting the dev server (history in ${db}, Web UI at ${uiUrl}).`);
    ({ child, connection } = await startDevServer({ host, port: Number(portText), dbFile: db, ui: true, logFile: join(dir, 'temporal-server.log') }));
  }
  await ensureSearchAttributes(connection);
  const started = child;
  return {
    connection,
    address,
    uiUrl,
    async close() {
      await connection.close();
      if (started && started.exitCode === null) {
        const exited = new Promise((r) => started.once('exit', r));
        started.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * Starts the Temporal CLI's dev server on a SQLite file, with Legible's search attributes (and its Web UI on port +
 * 1000 unless `ui` is false), and waits until it answers.
 */
export async function startDevServer(o: { host: string; port: number; dbFile: string; ui: boolean; logFile?: string }): Promise<{ child: ChildProcess; connection: Connection }> {
  const out = o.logFile ? openSync(o.logFile, 'a') : 'ignore';
  const child = spawn(
    ensureTemporalCli(),
    [
      'server', 'start-dev', '--ip', o.host === 'localhost' ? '127.0.0.1' : o.host, '--port', String(o.port),
      ...(o.ui ? ['--ui-port', String(o.port + 1000)] : ['--headless']),
      '--db-filename', o.dbFile, '--log-level', 'warn',
      ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`]),
    ],
    { stdio: ['ignore', out, out] },
  );
  const address = `${o.host}:${o.port}`;
  const where = o.logFile ? `; see ${o.logFile}` : '';
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  for (let i = 0; i < 120; i++) {
    const status = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    if (status !== 'waiting') throw new Error(`the Temporal dev server exited (code ${status})${where}`);
    const connection = await tryConnect(address, '1s');
    if (connection) return { child, connection };
  }
  child.kill('SIGTERM');
  throw new Error(`the Temporal dev server did not answer at ${address} within 60 s${where}`);
}

/** Registers any of Legible's search attributes the server does not have yet (a server started elsewhere). */
export async function ensureSearchAttributes(connection: Connection, namespace = 'default'): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTES.filter((a) => !customAttributes?.[a.name]);
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((a) => [a.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  if (i < 0 || !/^\d+$/.test(address.slice(i + 1))) throw new Error(`TEMPORAL_ADDRESS "${address}" is not host:port`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}
