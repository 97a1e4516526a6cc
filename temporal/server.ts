// The Temporal server and CLI helpers: finds the Temporal CLI (or builds the pinned version with Go into .tools/bin,
// through ensureGoTool, which also builds the project's other Go tools such as the S3 gateway of store/s3-server.ts),
// connects to TEMPORAL_ADDRESS, and when nothing answers on a local address starts `temporal server start-dev` in
// the background with a SQLite file under .legible/ (history survives restarts), its Web UI, and Legible's search
// attributes. That server outlives the command that started it (so UI links keep working and later commands find
// it); `legible server stop` stops it. Its pid and address are kept in .legible/temporal-server.json.
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { processAlive } from '../store/directory';
import { SEARCH_ATTRIBUTES } from './search-attributes';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
/** Where `go install` puts the tools the project builds for itself (the Temporal CLI, the S3 gateway). */
const TOOLS_BIN = join(PROJECT_ROOT, '.tools', 'bin');

export function defaultAddress(): string {
  return process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
}

export function stateDir(): string {
  return process.env.LEGIBLE_HOME ?? join(PROJECT_ROOT, '.legible');
}

/** A program the project builds from a pinned Go module when it is not installed (see ensureGoTool). */
export interface GoTool {
  /** What `go install` builds, with its version: `github.com/temporalio/cli/cmd/temporal@v1.5.1`. */
  module: string;
  /** The program's file name, in .tools/bin and on PATH. */
  binary: string;
  /** The environment variable that names the program's path, and is looked at first. */
  envVar: string;
  /** The program in words, for messages: `Temporal CLI` reads "No Temporal CLI was found…". */
  what: string;
  /** The command that builds it, for messages (default `npm run setup`). */
  setupCommand?: string;
  /** Arguments of a first run right after a build (its first start is slow); none means no such run. */
  warmArgs?: string[];
}

/** The tool's path: $envVar, the project's own build in .tools/bin, or `binary` on PATH; undefined if none exists. */
export function findGoTool(tool: GoTool): string | undefined {
  const candidates = [process.env[tool.envVar], join(TOOLS_BIN, tool.binary), ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, tool.binary))];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

/**
 * Finds the tool (see findGoTool) or builds its pinned module into .tools/bin with `go install` (synchronous:
 * minutes the first time, seconds once Go's caches hold it). Returns the program's path. Throws when Go is missing
 * (saying how to get it or where to point envVar) or when the build fails (with go's exit code; its output went to
 * stderr).
 */
export function ensureGoTool(tool: GoTool, log: (line: string) => void = console.error): string {
  const found = findGoTool(tool);
  if (found) return found;
  const local = join(TOOLS_BIN, tool.binary);
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new Error(
      `No ${tool.what} was found and Go is not installed to build one.\n` +
        `Install Go (https://go.dev/dl/) and run \`${tool.setupCommand ?? 'npm run setup'}\`, or install the ${tool.what} yourself and set ${tool.envVar} to its path.`,
    );
  }
  log(`Building the ${tool.what} (${tool.module}) into ${local}: a few minutes the first time, seconds after.`);
  const built = spawnSync('go', ['install', tool.module], {
    env: { ...process.env, GOBIN: TOOLS_BIN },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (built.status !== 0 || !existsSync(local)) throw new Error(`go install ${tool.module} failed (exit code ${built.status})`);
  if (tool.warmArgs) spawnSync(local, tool.warmArgs);
  return local;
}

const TEMPORAL_CLI: GoTool = {
  module: TEMPORAL_CLI_MODULE,
  binary: 'temporal',
  envVar: 'TEMPORAL_CLI',
  what: 'Temporal CLI',
  // Warm the binary: its first start after a build is slow, and some callers wait only seconds for the server.
  warmArgs: ['--version'],
};

/** The Temporal CLI to use: $TEMPORAL_CLI, the project's own build, or `temporal` on PATH. */
export function findTemporalCli(): string | undefined {
  return findGoTool(TEMPORAL_CLI);
}

/** Finds the Temporal CLI or builds the pinned version into .tools/bin with `go install` (minutes the first time). */
export function ensureTemporalCli(log: (line: string) => void = console.error): string {
  return ensureGoTool(TEMPORAL_CLI, log);
}

export async function tryConnect(address: string, timeout = '2s'): Promise<Connection | undefined> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeout });
    // A deadline of its own: something that accepts connections but does not speak gRPC never answers.
    await connection.withDeadline(Date.now() + 3000, () => connection!.workflowService.getSystemInfo({}));
    return connection;
  } catch {
    await connection?.close().catch(() => undefined);
    return undefined;
  }
}

export interface Server {
  connection: Connection;
  address: string;
  /** Web UI address, where known. */
  uiUrl: string;
  /** Closes the connection (a dev server started in the background stays up for later commands). */
  close(): Promise<void>;
}

/** The background dev server of a store, as recorded in LEGIBLE_HOME/temporal-server.json. */
export interface DevServerRecord {
  pid: number;
  address: string;
  uiUrl: string;
  dbFile: string;
  logFile: string;
  startedAt: string;
}

const recordFile = () => join(stateDir(), 'temporal-server.json');

/** The store's background dev server if its process is alive (a stale record is removed). */
export function devServerRecord(): DevServerRecord | undefined {
  if (!existsSync(recordFile())) return undefined;
  let record: DevServerRecord;
  try {
    record = JSON.parse(readFileSync(recordFile(), 'utf8')) as DevServerRecord;
  } catch {
    return undefined;
  }
  if (processAlive(record.pid) && isDevServer(record.pid, record.dbFile)) return record;
  rmSync(recordFile(), { force: true });
  return undefined;
}

/** Stops the store's background dev server, if one runs; resolves once its process has gone. */
export async function stopDevServer(): Promise<DevServerRecord | undefined> {
  const record = devServerRecord();
  if (!record) return undefined;
  process.kill(record.pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(record.pid); i++) await new Promise((r) => setTimeout(r, 100));
  rmSync(recordFile(), { force: true });
  return record;
}

/** A port nothing listens on at `host` now, found by binding port 0 (another program may take it before we do). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
  });
}

/** Whether something already listens on host:port (a port that is in use, by Temporal or anything else). */
function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolveInUse) => {
    const probe = createServer();
    probe.once('error', () => resolveInUse(true));
    probe.listen(port, host === 'localhost' ? '127.0.0.1' : host, () => probe.close(() => resolveInUse(false)));
  });
}

/**
 * Connects to the Temporal server at `address`; if none answers and the address is local, starts the dev server,
 * waits for it, and registers Legible's search attributes.
 */
export async function connectOrStartServer(address = defaultAddress(), log: (line: string) => void = console.error): Promise<Server> {
  const [host, portText] = splitAddress(address);
  const uiUrl = process.env.TEMPORAL_UI_URL ?? `http://${host === '127.0.0.1' ? 'localhost' : host}:${Number(portText) + 1000}`;
  let connection = await tryConnect(address);
  if (!connection) {
    if (!['localhost', '127.0.0.1', '::1'].includes(host))
      throw new Error(`No Temporal server answers at ${address} (TEMPORAL_ADDRESS). Start it, or unset TEMPORAL_ADDRESS to use a local dev server.`);
    connection = await startBackgroundDevServer(host, Number(portText), uiUrl, log);
  }
  await ensureSearchAttributes(connection);
  return { connection, address, uiUrl, close: () => connection.close() };
}

/**
 * Starts this store's dev server in the background on host:port (its UI on port + 1000), records it, and connects.
 * Refuses a second server on the same store (they would share one SQLite file) and a port something else holds.
 * Where another command is starting the same server at the same moment, waits for that one instead.
 */
export async function startBackgroundDevServer(host: string, port: number, uiUrl: string, log: (line: string) => void = console.error): Promise<Connection> {
  const address = `${host}:${port}`;
  mkdirSync(stateDir(), { recursive: true });
  // One command at a time starts a store's server: the others wait for it (two at once would share one SQLite file).
  const lock = join(stateDir(), 'temporal-server.lock');
  for (let i = 0; ; i++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(lock, 'utf8'));
    if (!processAlive(holder)) {
      rmSync(lock, { force: true });
      continue;
    }
    const connection = await tryConnect(address, '1s');
    if (connection) return connection;
    if (i > 180) throw new Error(`another command (pid ${holder}) has been starting this store's dev server for over a minute; see ${join(stateDir(), 'temporal-server.log')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    const connection = await tryConnect(address, '1s');
    return connection ?? (await startLocked(host, port, uiUrl, log));
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Whether process `pid` is the Temporal dev server on `dbFile` (where /proc tells; elsewhere assumed): a record that
 * outlived its server (a reboot) may name a pid some other program has since been given.
 */
function isDevServer(pid: number, dbFile: string): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return process.platform !== 'linux';
  const args = readFileSync(cmdline, 'utf8').split('\0');
  return args.includes('start-dev') && args.includes(dbFile);
}

/** Starts the server, holding the store's start lock (see startBackgroundDevServer). */
async function startLocked(host: string, port: number, uiUrl: string, log: (line: string) => void): Promise<Connection> {
  const address = `${host}:${port}`;
  const running = devServerRecord();
  if (running && running.address !== address)
    throw new Error(`this store's dev server already runs at ${running.address} (pid ${running.pid}, history in ${running.dbFile}); set TEMPORAL_ADDRESS=${running.address}, or stop it with \`legible server stop\` first`);
  if (!running) {
    for (const p of [port, port + 1000]) {
      if (await portInUse(host, p)) {
        // Perhaps a server another command is starting right now: give it a moment to answer.
        const connection = await waitForServer(address, 10);
        if (connection) return connection;
        throw new Error(`port ${p} on ${host}${p === port ? '' : ' (the Web UI\'s, the server\'s + 1000)'} is in use by another program, and no Temporal server answers at ${address}: free the port or set TEMPORAL_ADDRESS to another one`);
      }
    }
  }
  ensureTemporalCli(log);
  const dir = stateDir();
  mkdirSync(dir, { recursive: true });
  const dbFile = join(dir, 'temporal.sqlite');
  const logFile = join(dir, 'temporal-server.log');
  if (running) {
    const connection = await waitForServer(address, 20);
    if (connection) return connection;
    throw new Error(`this store's dev server (pid ${running.pid}) does not answer at ${address}; see ${logFile}, or stop it with \`legible server stop\``);
  }
  log(`No Temporal server at ${address}: starting the dev server in the background (history in ${dbFile}, Web UI at ${uiUrl}; \`npx legible server stop\` stops it).`);
  let started: { child: ChildProcess; connection: Connection };
  try {
    started = await startDevServer({ host, port, dbFile, ui: true, logFile, detached: true });
  } catch (err) {
    // The port may have gone to a server started elsewhere at the same moment (another store's): use it if it answers.
    const connection = await waitForServer(address, 20);
    if (connection) return connection;
    throw err;
  }
  const record: DevServerRecord = { pid: started.child.pid!, address, uiUrl, dbFile, logFile, startedAt: new Date().toISOString() };
  writeFileSync(recordFile(), `${JSON.stringify(record, null, 2)}\n`);
  return started.connection;
}

/** Tries to connect every half second until `seconds` have passed. */
async function waitForServer(address: string, seconds: number): Promise<Connection | undefined> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const connection = await tryConnect(address, '1s');
    if (connection) return connection;
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

/**
 * Starts the Temporal CLI's dev server on a SQLite file, with Legible's search attributes (and its Web UI on port +
 * 1000 unless `ui` is false), and waits until it answers. `detached`: in a process group of its own that outlives
 * this process.
 */
export async function startDevServer(o: { host: string; port: number; dbFile: string; ui: boolean; logFile?: string; detached?: boolean }): Promise<{ child: ChildProcess; connection: Connection }> {
  const out = o.logFile ? openSync(o.logFile, 'a') : 'ignore';
  const child = spawn(
    ensureTemporalCli(),
    [
      'server', 'start-dev', '--ip', o.host === 'localhost' ? '127.0.0.1' : o.host, '--port', String(o.port),
      ...(o.ui ? ['--ui-port', String(o.port + 1000)] : ['--headless']),
      '--db-filename', o.dbFile, '--log-level', 'warn',
      ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`]),
    ],
    { stdio: ['ignore', out, out], detached: o.detached ?? false },
  );
  if (o.detached) child.unref();
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
