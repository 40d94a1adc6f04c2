import { Rng } from '../src/rng';

describe('Rng', () => {
  it('normalArray draws exactly what repeated normal() calls draw (odd lengths, cached spare)', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    for (const n of [3, 1, 0, 4, 5]) {
      const fast = Array.from(a.normalArray(n, 0.5));
      const slow = Array.from({ length: n }, () => Math.fround(b.normal() * 0.5));
      expect(fast).toEqual(slow);
    }
    expect(a.getState()).toEqual(b.getState());
    expect(a.uniform()).toBe(b.uniform());
  });
});
