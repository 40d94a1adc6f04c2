/**
 * Seeded randomness of the data package: every random choice here (splits, shard row order, reader
 * order) comes from a Mulberry32 stream keyed by (seed, purpose), so one choice never shifts another.
 *
 * This is not the model's `Rng` (sfc32, one stateful stream saved in checkpoints): the two are
 * different generators (each package chose its own), and both decide training numbers (the data one the batch
 * order, the model one the initialisation and augmentation), so merging them would change every result.
 * The shuffle itself is shared (`shuffleInPlace` from @sbir/core).
 */
import { fnv1a32, shuffleInPlace } from '@sbir/core';

export { shuffleInPlace };

/** Mulberry32 generator returning floats in [0, 1); a string seed is hashed with FNV-1a. */
export function createRng(seed: number | string): () => number {
  let a = typeof seed === 'number' ? seed >>> 0 : fnv1a32(seed);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator for one purpose, e.g. `rngFor(0, 'category', 'airplane')`. */
export function rngFor(seed: number, ...purpose: string[]): () => number {
  return createRng(`${seed}\u0000${purpose.join('\u0000')}`);
}

export function randomInt(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}
