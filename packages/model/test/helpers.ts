/** Shared test helpers: backend set-up and float64 finite differences. */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend';

export async function useNativeBackend(): Promise<void> {
  await initBackend('tensorflow', { quiet: true });
}

/** Central finite differences of a float64 function at x (flat array). */
export function finiteDiff(f: (x: number[]) => number, x: number[], eps = 1e-6): number[] {
  const g = new Array<number>(x.length);
  for (let i = 0; i < x.length; i++) {
    const xp = x.slice();
    const xm = x.slice();
    xp[i] += eps;
    xm[i] -= eps;
    g[i] = (f(xp) - f(xm)) / (2 * eps);
  }
  return g;
}

/** Max |a - b| / max(1, |b|) over elements. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

export function toArray(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Deterministic small values in [-1, 1). */
export function smallValues(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push((s / 4294967296) * 2 - 1);
  }
  return out;
}
