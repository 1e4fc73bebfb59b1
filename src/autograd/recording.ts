/**
 * Whether a gradient tape is recording, and the hook every differentiable op
 * calls. Ops and layers that have a faster path without a backward pass (the
 * fused attention core) take it only when nothing records.
 *
 * It imports no ops: op files reach the hook without pulling in the tape,
 * which itself uses ops to accumulate gradients.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";

/**
 * What a backward rule receives besides the output's gradient: handles to the
 * op's inputs and output that stay valid until the backward pass is done
 * (even if the forward code disposed its own handles), and which inputs need
 * a gradient at all.
 */
export interface Saved {
  /** The op's inputs, in the order given to {@linkcode record}. */
  readonly inputs: readonly Tensor[];
  /** The op's output. */
  readonly output: Tensor;
  /** `needs[i]` is false when input i does not depend on a differentiated leaf. */
  readonly needs: readonly boolean[];
}

/**
 * A backward rule: given the gradient of the output, returns one gradient
 * per input (shaped like that input), or `null` where none is needed. The
 * returned tensors belong to the tape, which disposes them.
 */
export type Backward = (g: Tensor, saved: Saved) => readonly (Tensor | null)[];

/** Receives every op run while it is the innermost active recorder. */
export interface Recorder {
  /** Notes that `op` computed `output` from `inputs`, with its backward rule. */
  record(op: string, inputs: readonly Tensor[], output: Tensor, backward: Backward): void;
}

// `undefined` marks plain `withRecording(fn)` (flag only, no tape); `null`
// marks a paused region, such as the backward pass itself.
const stack: (Recorder | undefined | null)[] = [];

/** True while a `valueAndGrad` trace is running (and not paused for its backward pass). */
export function isRecording(): boolean {
  return stack.length > 0 && stack[stack.length - 1] !== null;
}

/** Runs `fn` with recording marked active (nested calls stack); ops report to `recorder`. */
export function withRecording<T>(fn: () => T, recorder?: Recorder): T {
  stack.push(recorder);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}

/** Runs `fn` with recording off, so that backward rules' own ops are not taped. */
export function pauseRecording<T>(fn: () => T): T {
  stack.push(null);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}

/**
 * Reports an op to the active tape, if any, and returns `output`. Every
 * differentiable op ends with `return record(name, inputs, output, rule)`.
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  output: Tensor,
  backward: Backward,
): Tensor {
  const recorder = stack[stack.length - 1];
  if (recorder) recorder.record(op, inputs, output, backward);
  return output;
}
