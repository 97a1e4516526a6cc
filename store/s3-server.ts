// A real S3 server for the S3 artifact store's tests and for trying that store on one machine: Versity's S3 gateway
// (versitygw, Apache-2.0) serving a local directory, each top-level folder a bucket. This file owns finding or
// building the pinned versitygw (into .tools/bin, with Go, like the Temporal CLI), starting it on free local ports
// (or the addresses asked for) with its credentials, waiting until it answers S3 requests, creating buckets, and
// stopping it. The server's output goes to a log file next to the served directory (DIR.versitygw.log).
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ensureGoTool, freePort, type GoTool } from '../temporal/server';
import { quietNodeVersionNotice } from './s3';

export const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';

const VERSITYGW: GoTool = {
  module: VERSITYGW_MODULE,
  binary: 'versitygw',
  envVar: 'VERSITYGW',
  what: 'Versity S3 gateway',
  setupCommand: 'node bin/legible.js setup --s3-server',
};

/** How long startS3Server waits for the gateway to answer, by default (milliseconds). */
const START_TIMEOUT_MS = 15_000;

/**
 * Finds versitygw ($VERSITYGW, the project's own build in .tools/bin, or `versitygw` on PATH) or builds the pinned VERSITYGW_MODULE into .tools/bin with `go install`
 * (synchronous: about a minute and a half the first time, seconds after). Returns its path. Throws when Go is
 * missing or the build fails.
 */
export function ensureVersitygw(log: (line: string) => void = console.error): string {
  return ensureGoTool(VERSITYGW, log);
}

export interface S3ServerOptions {
  /** The directory served (created if missing); each folder in it is a bucket. Its filesystem needs user xattrs. */
  dir: string;
  /** Listen addresses, host:port (`[::1]:port` for IPv6); default one free port on 127.0.0.1. */
  addresses?: string[];
  /** The root user's access key (default `legible`). */
  accessKey?: string;
  /** The root user's secret key (default a random one). */
  secretKey?: string;
  /** Buckets to create once it answers (one that exists already is kept as it is). */
  buckets?: string[];
  /** How long to wait for it to answer, in milliseconds (default 15 000). */
  startTimeoutMs?: number;
  /** Where progress lines go (only a build of versitygw writes one). */
  log?: (line: string) => void;
}

export interface S3Server {
  /** http://ADDRESS of the first listen address: the endpoint for S3 clients (path-style, region us-east-1). */
  endpoint: string;
  /** http://ADDRESS of every listen address, in the order given. */
  endpoints: string[];
  accessKey: string;
  secretKey: string;
  /** The gateway's process id. */
  pid: number;
  /** The file its stdout and stderr go to. */
  logFile: string;
  /** Stops the gateway (SIGTERM, SIGKILL after 5 s) and resolves once its process has exited; calling it again is harmless. */
  stop(): Promise<void>;
}

/**
 * Starts versitygw serving `dir` (building it first if need be, see ensureVersitygw), waits until it answers a
 * ListBuckets request (up to startTimeoutMs), and creates `buckets`. Throws, with the tail of the gateway's log, when
 * it exits early, does not answer in time, refuses the credentials, or a bucket cannot be created; the gateway is
 * stopped then. The gateway does not keep this process alive, and one still running when this process exits is killed.
 */
export async function startS3Server(o: S3ServerOptions): Promise<S3Server> {
  const binary = ensureVersitygw(o.log);
  quietNodeVersionNotice();
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const addresses = o.addresses?.length ? o.addresses : [`127.0.0.1:${await freePort('127.0.0.1')}`];
  for (const a of addresses) if (!/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d+$/.test(a)) throw new Error(`startS3Server: "${a}" is not a listen address (host:port, or [v6-address]:port)`);
  const endpoints = addresses.map((a) => `http://${a}`);
  const accessKey = o.accessKey ?? 'legible';
  const secretKey = o.secretKey ?? randomBytes(18).toString('base64url');

  const logFile = join(dirname(dir), `${basename(dir)}.versitygw.log`);
  const logFd = openSync(logFile, 'a');
  writeSync(logFd, `--- ${new Date().toISOString()} ${binary} serving ${dir} at ${addresses.join(' ')}\n`);
  // Credentials in the environment, not on the command line (where ps shows them); versitygw reads the *_ID names
  // first, so those are set too, in case the caller's environment has other values in them.
  const child = spawn(binary, [...addresses.flatMap((a) => ['--port', a]), '--quiet', 'posix', dir], {
    env: { ...process.env, ROOT_ACCESS_KEY_ID: accessKey, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_ACCESS_KEY: secretKey, ROOT_SECRET_KEY: secretKey },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  // A server left running does not keep this process alive (a test that forgets stop() still ends): see killOnExit.
  child.unref();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((done) => {
    child.once('exit', (code, signal) => ((exit = { code, signal }), done()));
    // A spawn failure (a path that is not executable) emits error, and exit may never come.
    child.once('error', (err) => ((exit = { code: null, signal: null }), writeLog(logFile, `spawn failed: ${err.message}\n`), done()));
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    if (!exit) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', killOnExit);
  };
  const fail = async (what: string): Promise<never> => {
    await stop();
    throw new Error(`versitygw (${binary}) serving ${dir} at ${addresses.join(', ')}: ${what}\n${logTail(logFile)}\n(its log: ${logFile})`);
  };

  const client = new S3Client({
    endpoint: endpoints[0],
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
  });
  try {
    const deadline = Date.now() + (o.startTimeoutMs ?? START_TIMEOUT_MS);
    for (;;) {
      if (exit) return await fail(`exited before answering (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`})`);
      try {
        await client.send(new ListBucketsCommand({}));
        break;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // An HTTP answer other than a server error means it is up but refuses us: waiting longer would not help.
        if (status && status < 500) return await fail(`answers ListBuckets with HTTP ${status} (${(err as Error).name}: ${(err as Error).message})`);
        if (Date.now() > deadline) return await fail(`did not answer ListBuckets within ${(o.startTimeoutMs ?? START_TIMEOUT_MS) / 1000} s (last error: ${(err as Error).name}: ${(err as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const bucket of o.buckets ?? []) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'BucketAlreadyOwnedByYou') continue;
        const hint = name === 'BucketAlreadyExists' ? ` (the folder exists, its bucket owned by another access key than "${accessKey}")` : '';
        return await fail(`could not create bucket "${bucket}"${hint}: ${name}: ${(err as Error).message}`);
      }
    }
  } finally {
    client.destroy();
  }
  return { endpoint: endpoints[0]!, endpoints, accessKey, secretKey, pid: child.pid!, logFile, stop };
}

function writeLog(file: string, text: string): void {
  try {
    const fd = openSync(file, 'a');
    writeSync(fd, text);
    closeSync(fd);
  } catch {
    // The log is a help for errors, never a reason for one.
  }
}

/** The last lines of the gateway's log, from its latest start, for error messages. */
function logTail(file: string, lines = 15): string {
  try {
    const text = readFileSync(file, 'utf8');
    const run = text.slice(text.lastIndexOf('\n--- ') + 1);
    return run.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}
