/**
 * The gradient tape: while a `valueAndGrad` trace runs, every op reports its
 * inputs, output and backward rule here; `backward` then walks the nodes in
 * reverse and accumulates gradients with the same ops (on webgpu, recorded
 * kernels: nothing is read back).
 *
 * Ops such as `linear` and `causalAttention.apply` dispose intermediates as
 * soon as they are recorded. The tape therefore holds its own handle to every
 * tensor a node touches (`viewOf` shares the reference-counted storage), so
 * the memory stays alive until `release` — and only until then.
 *
 * @module
 */

import { ShapeError } from "../errors.ts";
import { add } from "../ops/elementwise.ts";
import { showShape } from "../ops/checks.ts";
import { keep } from "../scope.ts";
import { fromHost, numel, type Tensor, viewOf } from "../tensor.ts";
import { type Backward, pauseRecording, type Recorder, type Saved } from "./recording.ts";

interface Node {
  readonly op: string;
  /** Identities, for routing gradients. */
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  /** The tape's own handles to the same values. */
  readonly saved: Saved;
  readonly backward: Backward;
}

/** One trace's record of differentiable work. Single use: `backward`, then `release`. */
export class Tape implements Recorder {
  #nodes: Node[] = [];
  /** Tensors that depend on a differentiated leaf. */
  #tracked = new Set<Tensor>();
  /** Every op output of the trace, for disposal once the trace is over. */
  #created: Tensor[] = [];
  /** Handles the tape took with `viewOf`. */
  #refs: Tensor[] = [];

  /** Starts a tape differentiating with respect to `leaves`. */
  constructor(leaves: Iterable<Tensor>) {
    for (const leaf of leaves) this.#tracked.add(leaf);
  }

  /** Part of {@linkcode Recorder}: called by `record` in every op. */
  record(op: string, inputs: readonly Tensor[], output: Tensor, backward: Backward): void {
    this.#created.push(output);
    const needs = inputs.map((t) => this.#tracked.has(t));
    // Work that no leaf flows into (masks, inputs, targets) needs no backward.
    if (!needs.includes(true)) return;
    const saved: Saved = {
      inputs: inputs.map((t) => this.#ref(t, op)),
      output: this.#ref(output, op),
      needs,
    };
    this.#nodes.push({ op, inputs, output, saved, backward });
    this.#tracked.add(output);
  }

  /**
   * Propagates `seed` (the gradient of `value`, which the tape takes over)
   * back to the leaves. Returns each leaf's gradient; leaves the value does
   * not depend on are absent.
   */
  backward(value: Tensor, seed: Tensor): Map<Tensor, Tensor> {
    const grads = new Map<Tensor, Tensor>([[value, seed]]);
    try {
      this.#propagate(grads);
    } catch (error) {
      // A failing rule (a custom kernel without a backward) leaks nothing.
      for (const g of grads.values()) g.dispose();
      throw error;
    }
    return grads;
  }

  #propagate(grads: Map<Tensor, Tensor>): void {
    pauseRecording(() => {
      for (let i = this.#nodes.length - 1; i >= 0; i--) {
        const node = this.#nodes[i];
        const g = grads.get(node.output);
        if (!g) continue;
        grads.delete(node.output);
        const inputGrads = node.backward(g, node.saved);
        g.dispose();
        node.inputs.forEach((input, k) => {
          const grad = inputGrads[k];
          if (!grad) return;
          if (!node.saved.needs[k]) return grad.dispose();
          checkGradShape(node.op, k, input, grad);
          const previous = grads.get(input);
          if (!previous) return grads.set(input, grad);
          grads.set(input, add(previous, grad));
          previous.dispose();
          grad.dispose();
        });
      }
    });
  }

  /**
   * Disposes the tape's handles and every op output of the trace except
   * `keep` (the traced function's value and anything the caller owns).
   */
  release(keep: ReadonlySet<Tensor>): void {
    for (const ref of this.#refs) ref.dispose();
    for (const t of this.#created) if (!keep.has(t)) t.dispose();
    this.#refs = [];
    this.#created = [];
    this.#nodes = [];
    this.#tracked.clear();
  }

  #ref(t: Tensor, op: string): Tensor {
    // The tape releases its handles itself: no `tidy` scope (such as a
    // layer's own) may free them before the backward pass has run.
    const ref = keep(viewOf(t, t.shape, op));
    this.#refs.push(ref);
    return ref;
  }
}

/** A tensor of `value`s shaped like `like`, on its device (an upload: no kernel, no submit). */
export function filledLike(like: Tensor, value: number, op: string): Tensor {
  const data = new Float32Array(numel(like.shape));
  if (value !== 0) data.fill(value);
  return fromHost(data, like.shape, like.device, op, "gradient");
}

function checkGradShape(op: string, index: number, input: Tensor, grad: Tensor): void {
  if (showShape(input.shape) === showShape(grad.shape)) return;
  throw new ShapeError(
    `${op} backward: the gradient for input ${index} has shape ${showShape(grad.shape)}, ` +
      `but the input has shape ${showShape(input.shape)} (a bug in the op's backward rule)`,
  );
}
