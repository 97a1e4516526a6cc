// Large payloads live in the artifact store, not in Temporal's history: the "claim check" pattern as a payload
// codec (https://docs.temporal.io/dataconversion#payload-codec). Every payload a client or worker of Legible sends
// (a workflow's input and result, an activity's input and result, a child workflow's, a query's) passes through
// it: one larger than a threshold is stored in the artifact store, content-addressed, and travels as a small
// reference. So a run's report, its plan and a wide layer's scores never meet Temporal's payload limit (2 MB by
// default, `limit.blobSize.error`) nor bloat its history. Whoever decodes such a payload needs the same store: the
// workers and the `legible` commands of that store have it. Payloads below the threshold, and every payload written
// before this codec existed, pass unchanged.
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { InvalidInputError } from '../data/errors';
import type { ArtifactRef, ArtifactStore } from '../store/artifacts';
import { openStore } from '../store/open';

/** The encoding of a payload that is a reference to one in the artifact store. */
export const OFFLOADED_ENCODING = 'binary/legible-artifact';

/**
 * Payloads larger than this many bytes go to the artifact store: well under Temporal's default limits (a warning at
 * 512 KB, refusal at 2 MB), and large enough that a run's ordinary inputs and results stay readable in the Web UI.
 * LEGIBLE_OFFLOAD_BYTES sets it (a server with lower limits needs a lower one).
 */
export const DEFAULT_OFFLOAD_BYTES = 128 * 1024;

const text = new TextEncoder();

export class ArtifactPayloadCodec implements PayloadCodec {
  constructor(
    private readonly store: ArtifactStore,
    /** Payloads of more bytes than this (serialised) are offloaded. */
    readonly aboveBytes = DEFAULT_OFFLOAD_BYTES,
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        const bytes = temporal.api.common.v1.Payload.encode(p).finish();
        if (bytes.byteLength <= this.aboveBytes) return p;
        const ref = await this.store.putBytes('payload', bytes);
        return { metadata: { encoding: text.encode(OFFLOADED_ENCODING) }, data: text.encode(JSON.stringify(ref)) };
      }),
    );
  }

  /** Throws InvalidInputError where a referenced payload is missing from this store (another store's run). */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (p) => {
        const encoding = p.metadata?.encoding;
        if (!encoding || Buffer.from(encoding).toString('utf8') !== OFFLOADED_ENCODING) return p;
        const ref = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as ArtifactRef;
        let bytes: Buffer;
        try {
          bytes = await this.store.getBytes(ref);
        } catch (err) {
          if (!(err instanceof InvalidInputError)) throw err; // the store did not answer: worth another try
          throw new InvalidInputError(`a payload of ${ref.bytes} bytes kept in the artifact store is missing from ${this.store.location}: the run belongs to another store (set LEGIBLE_HOME, or LEGIBLE_STORE, to that store's) (${err.message})`);
        }
        return temporal.api.common.v1.Payload.decode(bytes);
      }),
    );
  }
}

/** The offload threshold: LEGIBLE_OFFLOAD_BYTES if set (a positive whole number), else DEFAULT_OFFLOAD_BYTES. */
export function offloadBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.LEGIBLE_OFFLOAD_BYTES;
  if (v === undefined || v === '') return DEFAULT_OFFLOAD_BYTES;
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidInputError(`LEGIBLE_OFFLOAD_BYTES="${v}" should be a positive whole number of bytes`);
  return Number(v);
}

/** The data converter of every Legible client and worker of the store of `storeRoot` (LEGIBLE_HOME; see openStore). */
export function dataConverterFor(storeRoot: string, aboveBytes = offloadBytes()): DataConverter {
  return { payloadCodecs: [new ArtifactPayloadCodec(openStore(storeRoot), aboveBytes)] };
}
