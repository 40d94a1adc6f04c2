/** A PNG grid of sample rows, sketches on top and photos below, for eyeballing a prepared dataset. */
import sharp from 'sharp';
import { openDataset } from './reader';
import { DOMAINS } from './types';

export interface ContactSheetOptions {
  /** Tiles per domain (default 24). */
  perDomain?: number;
  /** Tiles per row (default 8). */
  columns?: number;
  /** Pick a seeded random sample instead of the first rows (default true, seed 0). */
  shuffle?: boolean;
  seed?: number;
}

export async function writeContactSheet(
  dir: string,
  outFile: string,
  opts: ContactSheetOptions = {},
): Promise<{ tiles: number; width: number; height: number }> {
  const ds = openDataset(dir);
  const perDomain = opts.perDomain ?? 24;
  const columns = opts.columns ?? 8;
  const size = ds.manifest.size;
  const gap = Math.max(2, Math.round(size / 16));
  const tiles: { input: Buffer; left: number; top: number }[] = [];
  let rowOffset = 0;
  for (const domain of DOMAINS) {
    let k = 0;
    for (const subset of ['query', 'gallery', 'train'] as const) {
      if (k >= perDomain) break;
      for await (const b of ds.batches({
        subset,
        batchSize: perDomain - k,
        domain,
        shuffle: opts.shuffle ?? true,
        seed: opts.seed ?? 0,
        shuffleBuffer: 256,
        limit: perDomain - k,
      })) {
        for (let i = 0; i < b.n && k < perDomain; i++, k++) {
          const px = size * size * 3;
          const png = await sharp(Buffer.from(b.images.buffer, b.images.byteOffset + i * px, px), {
            raw: { width: size, height: size, channels: 3 },
          })
            .png()
            .toBuffer();
          tiles.push({
            input: png,
            left: gap + (k % columns) * (size + gap),
            top: gap + (rowOffset + Math.floor(k / columns)) * (size + gap),
          });
        }
      }
    }
    rowOffset += Math.ceil(k / columns) + 1; // a blank row between domains
  }
  const width = gap + columns * (size + gap);
  const height = gap + Math.max(1, rowOffset - 1) * (size + gap);
  await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 200, b: 200 } } })
    .composite(tiles)
    .png()
    .toFile(outFile);
  return { tiles: tiles.length, width, height };
}
