/**
 * Whether a gradient tape is recording. Ops and layers that have a faster
 * path without a backward pass (the fused attention core) take it only when
 * nothing records.
 *
 * @module
 */

let depth = 0;

/** True while a `valueAndGrad` trace is running. */
export function isRecording(): boolean {
  return depth > 0;
}

/** Runs `fn` with recording marked active (nested calls stack). */
export function withRecording<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
