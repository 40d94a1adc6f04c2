/** Decode + resize with sharp: every input becomes `size x size x 3` uint8 RGB on white. */
import sharp from 'sharp';
import type { Fit, ImageInput } from './types';

const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

/** Decodes `input`, flattens transparency onto white and resizes to a square RGB image. */
export async function decodeToRgb(input: ImageInput, size: number, fit: Fit = 'contain'): Promise<Buffer> {
  let img: sharp.Sharp;
  switch (input.kind) {
    case 'file':
      img = sharp(input.path, { failOn: 'error' });
      break;
    case 'encoded':
      img = sharp(input.data, { failOn: 'error' });
      break;
    case 'raw':
      img = sharp(input.data, {
        raw: { width: input.width, height: input.height, channels: input.channels },
      });
      if (input.negate) img = img.negate({ alpha: false });
      break;
  }
  const { data, info } = await img
    .flatten({ background: WHITE })
    .resize(size, size, { fit, background: WHITE })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size || data.length !== size * size * 3) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return data;
}

/**
 * Yields `fn(item)` for every item in input order while up to `concurrency` calls run and up to
 * `lookahead` results wait ahead of the consumer: decoding never pauses at batch or shard
 * boundaries, and memory stays bounded by `lookahead` results.
 */
export async function* orderedMap<T, R>(
  items: readonly T[],
  concurrency: number,
  lookahead: number,
  fn: (item: T, index: number) => Promise<R>,
): AsyncGenerator<R> {
  const slots = new Map<number, Promise<R>>();
  const waiters: (() => void)[] = [];
  let active = 0;
  let launched = 0;
  const run = async (i: number): Promise<R> => {
    while (active >= concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    active++;
    try {
      return await fn(items[i], i);
    } finally {
      active--;
      waiters.shift()?.();
    }
  };
  const ahead = Math.max(lookahead, concurrency, 1);
  for (let i = 0; i < items.length; i++) {
    while (launched < items.length && launched < i + ahead) {
      const p = run(launched);
      p.catch(() => undefined); // observed when its turn comes
      slots.set(launched++, p);
    }
    const p = slots.get(i) as Promise<R>;
    slots.delete(i);
    yield await p;
  }
}
