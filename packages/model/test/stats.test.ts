import { distanceStatistics } from '../src/stats';
import { useNativeBackend } from './helpers';

beforeAll(useNativeBackend);

describe('distanceStatistics', () => {
  it('per-class extremes, separation and histograms on a hand-made layout', () => {
    // 1-D: class a at 0, 1; class b at 10, 10.5; class c alone at 3.
    const f = Float32Array.from([0, 1, 10, 10.5, 3]);
    const y = Int32Array.from([0, 0, 1, 1, 2]);
    const s = distanceStatistics(f, y, 1, ['a', 'b', 'c'], { bins: 4 });
    expect(s.perClass).toEqual([
      { category: 'a', count: 2, maxIntra: 1, minInter: 2 },
      { category: 'b', count: 2, maxIntra: 0.5, minInter: 7 },
      { category: 'c', count: 1, maxIntra: null, minInter: 2 },
    ]);
    expect(s.fractionSeparated).toBe(1);
    // pairs: intra 1, 0.5; inter 10, 10.5, 9.5, 9, 3, 2, 7, 7.5 -> edges 0..10.5 in 4 bins
    expect(s.histogram.edges).toEqual([0, 2.625, 5.25, 7.875, 10.5]);
    expect(s.histogram.intra).toEqual([2, 0, 0, 0]);
    expect(s.histogram.inter).toEqual([1, 1, 2, 4]);
    expect(s.sampled).toBe(false);
  });

  it('counts a class as not separated when an outsider is closer than its spread', () => {
    const f = Float32Array.from([0, 0, 4, 0, 2, 0.5]);
    const y = Int32Array.from([0, 0, 1]);
    const s = distanceStatistics(f, y, 2, ['x', 'y']);
    expect(s.perClass[0].maxIntra).toBeCloseTo(4, 6);
    expect(s.perClass[0].minInter).toBeCloseTo(Math.sqrt(4 + 0.25), 5);
    expect(s.fractionSeparated).toBe(0);
  });

  it('samples items and pairs deterministically when large', () => {
    const n = 300;
    const f = Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i * 1.7) * 3);
    const y = Int32Array.from({ length: n }, (_, i) => i % 5);
    const a = distanceStatistics(f, y, 2, ['0', '1', '2', '3', '4'], {
      maxItems: 100,
      maxPairs: 500,
      seed: 3,
    });
    const b = distanceStatistics(f, y, 2, ['0', '1', '2', '3', '4'], {
      maxItems: 100,
      maxPairs: 500,
      seed: 3,
    });
    expect(a).toEqual(b);
    expect(a.sampled).toBe(true);
    expect(a.nItems).toBe(100);
    expect(a.histogram.intra.reduce((s, v) => s + v, 0)).toBe(500);
    expect(a.histogram.inter.reduce((s, v) => s + v, 0)).toBe(500);
  });
});
