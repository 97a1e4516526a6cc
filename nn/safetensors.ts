// The safetensors file format (https://huggingface.co/docs/safetensors, "Format"): an 8-byte little-endian header
// length N, N bytes of JSON naming each tensor's dtype, shape and byte range, then the tensors' bytes. Only float32
// tensors are written or read here, which is all a model holds. No npm package keeps a maintained writer (the one
// named `safetensors` is an unmaintained 0.0.1), and the format is one page long, so it is written out here.
import { InvalidInputError } from '../data/errors';

export interface NamedTensor {
  name: string;
  /** Row-major shape; [] for a scalar. */
  shape: number[];
  values: Float32Array;
}

/**
 * The bytes of a safetensors file holding the tensors in the given order (little-endian float32, "F32"), with string
 * metadata under `__metadata__`. The header is padded with spaces to a multiple of 8 bytes, as the format recommends.
 */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.values.length) throw new Error(`safetensors: "${t.name}" has ${t.values.length} values for shape [${t.shape}]`);
    if (t.name in header) throw new Error(`safetensors: two tensors are named "${t.name}"`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    for (let i = 0; i < t.values.length; i++, at += 4) out.writeFloatLE(t.values[i]!, at);
  }
  return out;
}

/**
 * The tensors and metadata of a safetensors file's bytes. Throws an InvalidInputError naming `source` where the file
 * is cut short, its header is not JSON, a tensor is not F32, or a byte range does not match its shape.
 */
export function decodeSafetensors(bytes: Buffer, source: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const bad = (why: string) => new InvalidInputError(`${source}: not a readable safetensors file: ${why}`);
  if (bytes.length < 8) throw bad('shorter than its 8-byte header length');
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.length) throw bad(`its header length (${headerLength} bytes) runs past the end of the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch (err) {
    throw bad(`its header is not JSON (${(err as Error).message})`);
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32') throw bad(`tensor "${name}" is ${dtype}; only F32 is read`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== 4 * size) throw bad(`tensor "${name}" spans bytes ${begin}..${end}, not the ${4 * size} bytes of shape [${shape}]`);
    if (end > data.length) throw bad(`tensor "${name}" spans bytes ${begin}..${end}, but the data ends at byte ${data.length} (the file is cut short)`);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = data.readFloatLE(begin + 4 * i);
    tensors.set(name, { name, shape, values });
  }
  return { tensors, metadata };
}
