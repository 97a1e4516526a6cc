// An S3-compatible bucket as the artifact store's object store, shared by workers on several machines (AWS S3,
// MinIO, Ceph, Cloudflare R2, Versity's gateway), through the AWS SDK (@aws-sdk/client-s3). Objects are written whole
// (an S3 PUT is atomic). The once-only computation of a step rests on S3 conditional writes (RFC 9110 If-None-Match
// and If-Match on PutObject, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html): a
// worker claims a step by creating its lock object, a lease that it renews while it computes; a lease that nobody
// renewed for LEASE_STALE_MS (its worker died) is taken over by a conditional write on the ETag seen. Staleness is
// judged by the waiting worker's own clock, so machines' clocks need not agree.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidInputError } from '../data/errors';
import type { Claim, ObjectStore } from './artifacts';

/** A bucket and a key prefix ('' for the bucket's root), from `s3://bucket/prefix`. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/** How often a worker renews the lease on a step it computes, in milliseconds. */
export const LEASE_RENEW_MS = 5_000;
/** A lease unchanged for this long (milliseconds, by the waiting worker's clock) has lost its worker. */
export const LEASE_STALE_MS = 30_000;
/**
 * How long a request goes on trying while the server does not answer (milliseconds): an S3 server restarted, or a
 * network blip, costs a step a wait, not its attempt. Longer outages fail the step (Temporal retries it; `legible
 * resume` restarts a run that ran out of attempts).
 */
export const PATIENCE_MS = 60_000;

/**
 * Reads `s3://bucket/prefix` (the prefix optional). Throws InvalidInputError naming the setting for anything else, and
 * for a bucket name S3 would refuse (3 to 63 lowercase letters, digits, dots and hyphens:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function parseS3Url(url: string, setting = 'LEGIBLE_STORE'): S3Location {
  const m = /^s3:\/\/([^/]*)\/?(.*)$/.exec(url);
  if (!m) throw new InvalidInputError(`${setting}="${url}" should be s3://bucket or s3://bucket/prefix (unset it to keep artifacts in LEGIBLE_HOME)`);
  const [, bucket, rest] = m as unknown as [string, string, string];
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new InvalidInputError(`${setting}="${url}": "${bucket}" is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens)`);
  const prefix = rest.replace(/\/+$/, '');
  if (prefix && prefix.split('/').some((part) => part === '' || part === '.' || part === '..'))
    throw new InvalidInputError(`${setting}="${url}": the prefix "${rest}" has an empty, "." or ".." part`);
  return { bucket, prefix };
}

/** The S3 client settings from the standard AWS variables; an endpoint (other than AWS) uses path-style addresses. */
export function s3ClientConfig(env: NodeJS.ProcessEnv = process.env): S3ClientConfig & { endpoint?: string } {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint && !/^https?:\/\/[^/]+/.test(endpoint))
    throw new InvalidInputError(`${env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL'}="${endpoint}" should be an http:// or https:// address of the S3 server`);
  if (!!env.AWS_ACCESS_KEY_ID !== !!env.AWS_SECRET_ACCESS_KEY)
    throw new InvalidInputError(`${env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not set, but ${env.AWS_ACCESS_KEY_ID ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is: set both (the S3 store's credentials)`);
  return {
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // Given here, not left to the SDK's chain, so that the settings of `env` are the ones used (else: the chain,
    // which also reads profiles and instance metadata).
    ...(env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
  };
}

export class S3Objects implements ObjectStore {
  private readonly client: S3Client;
  /** One try, a few seconds: what the start-up check uses, so that bad settings fail at once. */
  private readonly quickClient: S3Client;
  /** Leases held by others, with the ETag seen and since when (this process's clock), per lock key. */
  private readonly seen = new Map<string, { etag: string; since: number }>();
  private readonly owner = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  private readonly timing: { renewMs: number; staleMs: number; patienceMs: number };
  /** When requests began to go unanswered (for one notice per outage), or undefined while the server answers. */
  private unansweredSince: number | undefined;

  constructor(
    readonly at: S3Location,
    private readonly config: S3ClientConfig & { endpoint?: string } = s3ClientConfig(),
    /** Lease renewal and staleness, and the patience with an unanswering server, in milliseconds (tests shorten them). */
    timing: Partial<{ renewMs: number; staleMs: number; patienceMs: number }> = {},
  ) {
    this.timing = { renewMs: timing.renewMs ?? LEASE_RENEW_MS, staleMs: timing.staleMs ?? LEASE_STALE_MS, patienceMs: timing.patienceMs ?? PATIENCE_MS };
    quietNodeVersionNotice();
    this.client = new S3Client({ ...config, requestHandler: { connectionTimeout: 10_000 } });
    this.quickClient = new S3Client({ ...config, maxAttempts: 1, requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true } });
  }

  get location(): string {
    return `s3://${this.at.bucket}${this.at.prefix ? `/${this.at.prefix}` : ''}${this.config.endpoint ? ` at ${this.config.endpoint}` : ''}`;
  }

  private key(key: string): string {
    return this.at.prefix ? `${this.at.prefix}/${key}` : key;
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      const bytes = await this.patiently(async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.at.bucket, Key: this.key(key) }));
        return out.Body!.transformToByteArray();
      });
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      if (statusOf(err) === 404 && nameOf(err) !== 'NoSuchBucket') return undefined;
      throw this.explain(err);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.etagOf(key)) !== undefined;
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    await this.put(key, bytes);
  }

  async create(key: string, bytes: Uint8Array): Promise<boolean> {
    // Conditional writes only for small objects: some servers reset the connection of a large losing one.
    for (let tries = 0; ; tries++) {
      try {
        await this.put(key, bytes, { IfNoneMatch: '*' });
        return true;
      } catch (err) {
        if (statusOf(err) === 412) return false;
        // 409: another conditional write to the key is under way (S3's ConditionalRequestConflict): try again.
        if (statusOf(err) !== 409 || tries >= 10) throw this.explain(err);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async remove(key: string): Promise<void> {
    try {
      await this.patiently(() => this.client.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: this.key(key) })));
    } catch (err) {
      throw this.explain(err);
    }
  }

  /**
   * A lease: the lock object, created only if absent, renewed every LEASE_RENEW_MS with a write conditional on its
   * last ETag. A lease whose ETag has not changed for LEASE_STALE_MS (by this process's clock) is taken over the same
   * way. A worker that loses its lease (it stalled that long) computes on: the result is the same, written whole.
   */
  async claim(key: string): Promise<Claim | undefined> {
    try {
      return this.hold(key, (await this.put(key, this.leaseBody(), { IfNoneMatch: '*' })).ETag!);
    } catch (err) {
      if (statusOf(err) !== 412 && statusOf(err) !== 409) throw this.explain(err);
    }
    const etag = await this.etagOf(key);
    if (etag === undefined) return undefined; // released just now: the caller looks again
    const seen = this.seen.get(key);
    if (!seen || seen.etag !== etag) {
      this.seen.set(key, { etag, since: Date.now() });
      return undefined;
    }
    if (Date.now() - seen.since < this.timing.staleMs) return undefined;
    this.seen.delete(key);
    try {
      return this.hold(key, (await this.put(key, this.leaseBody(), { IfMatch: etag })).ETag!);
    } catch (err) {
      if ([404, 409, 412].includes(statusOf(err) ?? 0)) return undefined; // another worker took it over first
      throw this.explain(err);
    }
  }

  /** A lease's content: whose it is, and a nonce, so that every renewal changes its ETag. */
  private leaseBody(): Buffer {
    return Buffer.from(JSON.stringify({ owner: this.owner, renewedAt: new Date().toISOString(), nonce: randomBytes(4).toString('hex') }));
  }

  private hold(key: string, etag: string): Claim {
    let current: string | undefined = etag;
    let renewing: Promise<void> | undefined;
    const renew = async () => {
      if (!current) return;
      try {
        current = (await this.put(key, this.leaseBody(), { IfMatch: current }, false)).ETag;
      } catch (err) {
        if ([404, 412].includes(statusOf(err) ?? 0)) current = undefined; // taken over: stop renewing
      }
    };
    const timer = setInterval(() => (renewing = renew()), this.timing.renewMs);
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await renewing; // a renewal under way changes the ETag the delete is conditional on
        if (!current) return;
        const last = current;
        current = undefined;
        await this.client.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: this.key(key), IfMatch: last })).catch(() => undefined);
      },
    };
  }

  /**
   * Lists, writes and deletes a probe object with one try each, so that an unknown bucket, wrong credentials or an
   * unreachable endpoint fail before a run starts, with a message that names the setting to fix.
   */
  async check(): Promise<void> {
    const probe = this.key(`.legible-check/${this.owner.replace(/[^\w.-]/g, '-')}`);
    try {
      await this.quickClient.send(new ListObjectsV2Command({ Bucket: this.at.bucket, MaxKeys: 1, ...(this.at.prefix ? { Prefix: `${this.at.prefix}/` } : {}) }));
      await this.quickClient.send(new PutObjectCommand({ Bucket: this.at.bucket, Key: probe, Body: Buffer.from('legible store check\n') }));
      await this.quickClient.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: probe }));
    } catch (err) {
      const explained = this.explain(err);
      if (explained !== err) throw explained;
      // Anything else at start: something answers there, but not as an S3 server that knows this bucket (a web
      // server, TLS against plain HTTP, another service).
      throw new InvalidInputError(`the S3 store ${this.location}: the endpoint does not answer as an S3 server (${nameOf(err)}: ${(err as Error).message.split('\n')[0]}); check AWS_ENDPOINT_URL_S3`);
    }
  }

  /** A PUT, patient unless it renews a lease (the next renewal is the retry). */
  private async put(key: string, bytes: Uint8Array, condition: Pick<PutObjectCommandInput, 'IfMatch' | 'IfNoneMatch'> = {}, patient = true) {
    const send = () => this.client.send(new PutObjectCommand({ Bucket: this.at.bucket, Key: this.key(key), Body: bytes, ContentLength: bytes.byteLength, ...condition }));
    return patient ? this.patiently(send) : send();
  }

  /**
   * Runs a request, and again (1, 2, 4, 8, then every 10 s) while the server does not answer or answers with a server
   * error, for up to the patience; then throws the last error. A conditional write retried after its first try
   * reached the server may fail its precondition on its own object: callers treat that as another's (a lease then
   * goes stale and is taken over; a create reads what is there).
   */
  private async patiently<T>(request: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await request();
        if (this.unansweredSince !== undefined) console.error(`the S3 store ${this.location} answers again`);
        this.unansweredSince = undefined;
        return result;
      } catch (err) {
        const transient = unreachable(err) || (statusOf(err) ?? 0) >= 500;
        if (!transient || Date.now() - started >= this.timing.patienceMs) throw err;
        if (this.unansweredSince === undefined) {
          this.unansweredSince = Date.now();
          console.error(`the S3 store ${this.location} does not answer (${(err as NodeJS.ErrnoException).code ?? nameOf(err)}): trying again for up to ${Math.round(this.timing.patienceMs / 1000)} s`);
        }
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
      }
    }
  }

  private async etagOf(key: string): Promise<string | undefined> {
    try {
      return (await this.patiently(() => this.client.send(new HeadObjectCommand({ Bucket: this.at.bucket, Key: this.key(key) })))).ETag;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.explain(err);
    }
  }

  /** An S3 error as InvalidInputError where a setting is wrong (names it); other errors (a retry may fix) unchanged. */
  private explain(err: unknown): unknown {
    const name = nameOf(err);
    const code = (err as NodeJS.ErrnoException).code;
    const where = `the S3 store ${this.location}`;
    const credentials = this.config.credentials;
    const keyId = credentials && typeof credentials === 'object' && 'accessKeyId' in credentials ? credentials.accessKeyId : undefined;
    switch (name) {
      case 'NoSuchBucket':
        return new InvalidInputError(`${where}: bucket "${this.at.bucket}" does not exist (create it, or fix LEGIBLE_STORE)`);
      case 'InvalidAccessKeyId':
      case 'XAdminUserNotFound':
        return new InvalidInputError(`${where}: the server does not know the access key${keyId ? ` "${keyId}"` : ''} (AWS_ACCESS_KEY_ID)`);
      case 'SignatureDoesNotMatch':
        return new InvalidInputError(`${where}: the secret key does not match the access key${keyId ? ` "${keyId}"` : ''} (AWS_SECRET_ACCESS_KEY)`);
      case 'AccessDenied':
        return new InvalidInputError(`${where}: access denied (the credentials may not list, write and delete objects there)`);
      case 'CredentialsProviderError':
        return new InvalidInputError(`${where}: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)`);
    }
    if (unreachable(err))
      return new UnreachableStoreError(`${where}: cannot reach ${this.config.endpoint ?? 'S3'} (${code ?? name}: ${(err as Error).message}); check AWS_ENDPOINT_URL_S3 and that the server runs`);
    return err;
  }
}

/**
 * Under Node 20 the AWS SDK warns, in every process that makes a client, that its releases after January 2027 will
 * need Node 22. The version this project uses is pinned by package-lock.json; the README says so once, instead of
 * every worker's output. Call before making an S3Client.
 */
export function quietNodeVersionNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/**
 * An S3 server that does not answer. Not an InvalidInputError: mid-run it is worth retrying (the network or the
 * server may come back); at start it fails the command with this message.
 */
export class UnreachableStoreError extends Error {
  override name = 'UnreachableStoreError';
}

/** A request that got no answer: the server is down, unknown or unreachable, or the connection broke. */
function unreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE'].includes(code) || nameOf(err) === 'TimeoutError';
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function nameOf(err: unknown): string | undefined {
  return (err as Error | undefined)?.name;
}
