// The error for input that no retry can fix (a corpus too small for the pipeline, a corrupt checkpoint, a label
// missing): activities turn it into a non-retryable Temporal failure, so a run fails at once with the reason.
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
