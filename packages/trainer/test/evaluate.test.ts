/** Pure helpers of the final evaluation, against values written out by hand. */
import { classMeans, rankedNeighbours, spread, type Embedded } from '../src/evaluate';

describe('classMeans (prototypes for the post-hoc codes when the loss has no centres)', () => {
  it('averages the rows of each label, in order of first appearance', () => {
    // labels 2, 0, 2, 0, 5 with 2-d features
    const f = new Float32Array([1, 2, 10, 20, 3, 6, 30, 40, -1, 0.5]);
    const { means, classes } = classMeans(f, new Int32Array([2, 0, 2, 0, 5]), 5, 2);
    expect(classes).toBe(3);
    expect(Array.from(means)).toEqual([2, 4, 20, 30, -1, 0.5]);
  });

  it('reads only the first n rows', () => {
    const { means, classes } = classMeans(new Float32Array([1, 1, 9, 9]), new Int32Array([0, 1]), 1, 2);
    expect(classes).toBe(1);
    expect(Array.from(means)).toEqual([1, 1]);
  });
});

describe('spread (queries shown in retrieval.json)', () => {
  it('takes evenly spaced rows, at most n', () => {
    expect(spread(10, 3)).toEqual([1, 5, 8]);
    expect(spread(2, 5)).toEqual([0, 1]);
    expect(spread(0, 4)).toEqual([]);
  });
});

describe('rankedNeighbours (retrieval.json)', () => {
  const emb = (embedding: number[], flipped?: number[]): Embedded => ({
    n: embedding.length / 2,
    dim: 2,
    embedding: Float32Array.from(embedding),
    flipped: flipped ? Float32Array.from(flipped) : undefined,
    labels: new Int32Array(embedding.length / 2),
    domains: new Uint8Array(embedding.length / 2),
    ids: [],
    categories: [],
    kept: new Map(),
  });

  it('euclidean: distances, min over flips; angular: the angle, blind to the norms', () => {
    const q = emb([1, 0], [0, 1]);
    // gallery: far along the query (10, 0), near but at 45 degrees (1, 1), at 90 degrees (0, 0.5)
    const g = emb([10, 0, 1, 1, 0, 0.5]);
    const eu = rankedNeighbours(q, g, 0, 3);
    expect(eu.map((h) => h.index)).toEqual([2, 1, 0]); // (0, 0.5) is 0.5 from the flipped query (0, 1)
    expect(eu[0]!.distance).toBeCloseTo(0.5, 6);
    expect(eu[2]!.distance).toBeCloseTo(Math.hypot(9, 0), 6);
    const an = rankedNeighbours(q, g, 0, 3, 'angular');
    // angles to (1, 0) or its flip (0, 1): 0, pi/4, 0 -> ties by gallery index
    expect(an.map((h) => h.index)).toEqual([0, 2, 1]);
    expect(an.map((h) => h.distance)).toEqual([0, 0, expect.closeTo(Math.PI / 4, 6)]);
  });
});
