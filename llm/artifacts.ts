// The explain and simulate steps' artifacts, read back: labels (JSON lists of explanations, one per batch of units)
// and simulations (bundles holding each unit's 0–10 predictions for every token of a split, unit by unit).
import { InvalidInputError } from '../data/errors';
import type { ArtifactRef, ArtifactStore } from '../store/artifacts';
import type { Explanation } from './types';

export async function readExplanations(store: ArtifactStore, refs: ArtifactRef[]): Promise<Explanation[]> {
  return (await Promise.all(refs.map((ref) => store.getJson<Explanation[]>(ref)))).flat();
}

/** Each unit's label, from one or more label batches. */
export async function readLabels(store: ArtifactStore, refs: ArtifactRef[]): Promise<Map<number, string>> {
  return new Map((await readExplanations(store, refs)).map((e) => [e.unit, e.label]));
}

/** Each unit's simulation, from one or more simulation batches of the same split (of `tokens` tokens, if given). */
export async function readSimulations(store: ArtifactStore, refs: ArtifactRef[], tokens?: number): Promise<Map<number, Float32Array>> {
  const out = new Map<number, Float32Array>();
  for (const ref of refs) {
    const b = await store.getBundle<{ units: number[]; tokens: number }>(ref);
    const n = b.meta.tokens;
    if (tokens !== undefined && n !== tokens) throw new InvalidInputError(`simulation ${ref.sha256.slice(0, 12)} covers ${n} tokens, not the ${tokens} of this split`);
    const values = b.arrays.values as Float32Array;
    b.meta.units.forEach((unit, j) => out.set(unit, values.subarray(j * n, (j + 1) * n)));
  }
  return out;
}
