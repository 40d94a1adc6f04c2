/**
 * Two evaluation settings of the authors' tester.py that this project made opt-in (issue 21):
 * - every post-hoc code length in one run (`eval.centreHashBits: [32, 64, 128]`, HashTester.run);
 * - the gallery ranked in the authors' order (`eval.galleryOrder: category`), which decides ties.
 * Metrics break ties by gallery index (stable sort, @sbir/model metrics.ts). The prepared gallery is
 * stored in a seeded shuffled order, while the authors' photo list (datasets/split_data.py, written to
 * anno/<dataset>_photo.json) runs category by category in sorted category order. Hamming distances
 * take few values (0..bits), so ties are common there and the order changes Hamming mAP.
 */
import { hammingRetrieval, type RetrievalResult } from '@sbir/model';

export type GalleryOrder = 'stored' | 'category';
export const GALLERY_ORDERS: readonly GalleryOrder[] = ['stored', 'category'];

/** The code lengths asked for: none, one (a number, as before) or several (a list, in its order). */
export function hashLengths(bits: number | readonly number[] | undefined): number[] {
  if (bits === undefined) return [];
  return typeof bits === 'number' ? [bits] : [...bits];
}

/**
 * Gallery row order for ranking: null keeps the stored order; `category` sorts by class index (the
 * manifest's sorted class list, the authors' label order), then by image id within a class (the
 * authors' order within a class is `os.listdir`'s, which no file records; sorted ids are reproducible).
 */
export function galleryPermutation(
  labels: Int32Array,
  ids: readonly string[],
  order: GalleryOrder | undefined,
): Int32Array | null {
  if (!order || order === 'stored') return null;
  const idx = Array.from({ length: labels.length }, (_, i) => i);
  idx.sort((a, b) => labels[a]! - labels[b]! || (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
  return Int32Array.from(idx);
}

/** Rows of a row-major array (`width` values per row) in the order `perm`; the input when perm is null. */
export function permuteRows<T extends Float32Array | Uint8Array | Int32Array>(
  a: T,
  width: number,
  perm: Int32Array | null,
): T {
  if (!perm) return a;
  const out = new (a.constructor as new (n: number) => T)(perm.length * width);
  for (let i = 0; i < perm.length; i++)
    out.set(a.subarray(perm[i]! * width, (perm[i]! + 1) * width), i * width);
  return out;
}

export interface LengthOutcome {
  bits: number;
  codes?: { query: Uint8Array; gallery: Uint8Array };
  info?: Record<string, unknown>;
  skipped?: string;
}

/**
 * eval.json `hammingByBits`: one record per code length, in the order asked for. The first length's
 * metrics are those already computed as `hamming` (passed in), the others are ranked here on the same
 * gallery order.
 */
export function hammingByBits(
  lengths: LengthOutcome[],
  first: RetrievalResult['hamming'] | undefined,
  labels: { query: Int32Array; gallery: Int32Array },
  perm: Int32Array | null,
  k: number,
): Record<string, unknown>[] {
  return lengths.map((l, i) => {
    if (!l.codes) return { bits: l.bits, skipped: l.skipped ?? 'no codes' };
    const h =
      i === 0 && first
        ? first
        : hammingRetrieval(
            { codes: l.codes.query, labels: labels.query },
            { codes: permuteRows(l.codes.gallery, l.bits, perm), labels: labels.gallery },
            l.bits,
            { k },
          );
    return {
      bits: l.bits,
      'mAP@all': h.mapAll,
      [`P@${k}`]: h.pAtK,
      [`mAP@${k}`]: h.mapAtK,
      ...(l.info ? { lossEnd: l.info.lossEnd } : {}),
    };
  });
}
