/**
 * Fisher-Yates shuffle in place over any uniform [0, 1) source; returns the array. The one shuffle:
 * the data reader (Mulberry32 streams) and the model's `Rng` (sfc32) both call it, so the order a
 * generator gives is the same whichever package shuffles.
 */
export function shuffleInPlace<T>(items: T[], uniform: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
