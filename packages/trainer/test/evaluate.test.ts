/** Pure helpers of the final evaluation, against values written out by hand. */
import { classMeans, spread } from '../src/evaluate';

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
