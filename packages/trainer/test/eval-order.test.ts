import { initBackend } from '@sbir/model';
import { galleryPermutation, hammingByBits, hashLengths, permuteRows } from '../src/eval-order';

beforeAll(() => initBackend('tensorflow', { quiet: true }));

describe('hash lengths and the gallery order of the final evaluation (issue 21)', () => {
  it('reads one length or a list, in the order given', () => {
    expect(hashLengths(undefined)).toEqual([]);
    expect(hashLengths(64)).toEqual([64]);
    expect(hashLengths([32, 64, 128])).toEqual([32, 64, 128]);
  });

  it('category order: by class index, then by image id; stored order is no permutation', () => {
    const labels = Int32Array.from([2, 0, 1, 0, 2]);
    const ids = ['e', 'd', 'c', 'b', 'a'];
    expect(galleryPermutation(labels, ids, undefined)).toBeNull();
    expect(galleryPermutation(labels, ids, 'stored')).toBeNull();
    const perm = galleryPermutation(labels, ids, 'category')!;
    expect(Array.from(perm)).toEqual([3, 1, 2, 4, 0]);
    expect(Array.from(permuteRows(labels, 1, perm))).toEqual([0, 0, 1, 2, 2]);
    const rows = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(Array.from(permuteRows(rows, 2, perm))).toEqual([3, 3, 1, 1, 2, 2, 4, 4, 0, 0]);
  });

  it('every length gets a record; ties follow the gallery order (all codes equal: only the order ranks)', () => {
    const bits = 4;
    const query = { codes: Uint8Array.from([1, 0, 1, 0]), labels: Int32Array.from([0]) };
    const gallery = new Uint8Array(4 * bits).fill(1); // four identical codes: every distance ties
    const galleryLabels = Int32Array.from([1, 0, 1, 0]);
    const ids = ['p0', 'p1', 'p2', 'p3'];
    const lengths = [4, 4].map((b) => ({ bits: b, codes: { query: query.codes, gallery } }));
    const score = (perm: Int32Array | null): number[] =>
      hammingByBits(
        [...lengths, { bits: 8, skipped: 'no prototypes' }],
        undefined,
        { query: query.labels, gallery: permuteRows(galleryLabels, 1, perm) },
        perm,
        200,
      ).map((r) => (r['mAP@all'] as number | undefined) ?? -1);
    // stored order: relevant at ranks 2 and 4, AP = (1/2 + 2/4) / 2; category order: ranks 1 and 2
    expect(score(null)).toEqual([0.5, 0.5, -1]);
    expect(score(galleryPermutation(galleryLabels, ids, 'category'))).toEqual([1, 1, -1]);
    const records = hammingByBits(
      lengths,
      undefined,
      { query: query.labels, gallery: galleryLabels },
      null,
      200,
    );
    expect(records.map((r) => r.bits)).toEqual([4, 4]);
    expect(Object.keys(records[0]!)).toEqual(['bits', 'mAP@all', 'P@200', 'mAP@200']);
  });
});
