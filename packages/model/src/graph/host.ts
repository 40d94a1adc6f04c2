/**
 * Per-step host values (learning rate, Adam's beta powers, an annealed loss margin): numbers computed in
 * JavaScript that change from one training step to the next. Eagerly they are plain scalars. While a
 * step is traced into a graph (trace.ts) each becomes a named graph input, and the function given here
 * recomputes it for later steps from the step clock, so the graph never bakes in one step's value.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Where a training step stands: trainer steps done before it, and the optimiser update it makes
 *  (Adam's t, 1-based). */
export interface StepClock {
  step: number;
  iterations: number;
}

export type HostFn = (clock: StepClock) => number;

/** The tracer's side of stepScalar: it names the tensor as a graph input. */
export interface HostRecorder {
  record(name: string, value: number, fn: HostFn, tensor: tf.Scalar): void;
}

let recorder: HostRecorder | null = null;

/** Installed by the tracer for the duration of one traced step (null afterwards). */
export function setHostRecorder(r: HostRecorder | null): void {
  recorder = r;
}

/**
 * A float32 scalar holding `value`, which the caller computed for the current step; `fn` must give
 * the same number from the step clock (the tracer checks it) and gives it for later steps.
 */
export function stepScalar(name: string, value: number, fn: HostFn): tf.Scalar {
  const t = tf.scalar(value);
  recorder?.record(name, value, fn, t);
  return t;
}
