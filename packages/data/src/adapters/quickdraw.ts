/**
 * Google QuickDraw (Ha & Eck 2017; data CC BY 4.0): the sketch domain from the numpy bitmaps
 * (`<category>.npy`, uint8 N x 784 = 28 x 28, white strokes on black) or the simplified drawings
 * (`<category>.ndjson`, strokes `[[x...], [y...]]` in a 0-255 box, rasterised here as SVG
 * polylines); photos from `--photos <dir>/<category>/*`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DataError, messages } from '../errors';
import { readNpyHeader } from '../npy';
import type { AdapterOptions, DatasetAdapter, ImageInput, Sample, ScanResult, SkippedFile } from '../types';
import {
  capList,
  compareStrings,
  filterCategories,
  listDirs,
  listImages,
  pairCategories,
  relSource,
  requireDir,
  stem,
} from './common';
import { adapterOption, readAdapterOptions } from './options';

/** Sketches per category when `--max-per-category` is not given (the full files hold 100k+). */
export const QUICKDRAW_DEFAULT_MAX = 1000;

export const quickdrawOptions = z.object({
  photos: adapterOption.dir('photo folder <dir>/<category>/* (required)'),
  format: adapterOption.choice(
    ['auto', 'npy', 'ndjson'],
    'sketch file format (auto: per category, npy preferred)',
    'auto',
  ),
  // no schema default: absent caps the sketches at QUICKDRAW_DEFAULT_MAX but leaves the photos uncapped
  maxPerCategory: adapterOption.positiveInt(
    `cap per category and domain (sketches: default ${QUICKDRAW_DEFAULT_MAX})`,
  ),
});

/** `full_numpy_bitmap_cat.npy` / `full_simplified_cat.ndjson` / `cat.npy` -> `cat`. */
function categoryOf(file: string): string {
  return stem(file).replace(/^full_(numpy_bitmap|simplified|raw)_/, '');
}

interface CategoryFile {
  category: string;
  file: string;
  kind: 'npy' | 'ndjson';
}

function findFiles(root: string, format: 'auto' | 'npy' | 'ndjson'): CategoryFile[] {
  const byCat = new Map<string, CategoryFile>();
  const names = fs.readdirSync(root).sort(compareStrings);
  for (const kind of ['npy', 'ndjson'] as const) {
    if (format !== 'auto' && format !== kind) continue;
    for (const n of names) {
      if (path.extname(n).toLowerCase() !== `.${kind}`) continue;
      const category = categoryOf(n);
      if (!byCat.has(category)) byCat.set(category, { category, file: n, kind });
    }
  }
  return [...byCat.values()].sort((a, b) => compareStrings(a.category, b.category));
}

/** Lines of a newline-delimited JSON file with their byte ranges, up to `max` valid drawings. */
async function scanNdjson(
  file: string,
  max: number,
  onBad: (line: number, why: string) => void,
): Promise<{ offset: number; length: number; key: string }[]> {
  const out: { offset: number; length: number; key: string }[] = [];
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  let carry = Buffer.alloc(0);
  let pos = 0; // file offset of carry[0]
  let lineNo = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      let nl: number;
      while ((nl = buf.indexOf(10, start)) !== -1) {
        handle(buf.subarray(start, nl), pos + start);
        start = nl + 1;
        if (out.length >= max) return out;
      }
      pos += start;
      buf = buf.subarray(start);
      carry = Buffer.from(buf);
    }
    if (carry.length && out.length < max) handle(carry, pos);
    return out;
  } finally {
    stream.destroy();
  }

  function handle(line: Buffer, offset: number): void {
    lineNo++;
    if (line.length === 0 || (line.length === 1 && line[0] === 13)) return;
    try {
      const rec = JSON.parse(line.toString('utf8')) as { key_id?: unknown; drawing?: unknown };
      if (!Array.isArray(rec.drawing)) throw new Error('no "drawing" array');
      out.push({
        offset,
        length: line.length,
        key: rec.key_id !== undefined ? String(rec.key_id) : `line${lineNo}`,
      });
    } catch (err) {
      onBad(lineNo, err instanceof Error ? err.message : String(err));
    }
  }
}

/**
 * A simplified QuickDraw drawing as an SVG of black polylines on white (box 0-255 plus an 8-unit
 * margin), rendered at `size` px with lines max(1.5, size/64) px wide.
 */
export function strokesToSvg(drawing: unknown, size: number): string {
  if (!Array.isArray(drawing) || drawing.length === 0) throw new Error('empty drawing');
  const width = Math.round(((Math.max(1.5, size / 64) * 272) / size) * 100) / 100;
  const lines: string[] = [];
  for (const stroke of drawing) {
    if (!Array.isArray(stroke) || !Array.isArray(stroke[0]) || !Array.isArray(stroke[1]))
      throw new Error('bad stroke');
    const xs = stroke[0] as unknown[];
    const ys = stroke[1] as unknown[];
    const pts: string[] = [];
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
      const x = Number(xs[i]);
      const y = Number(ys[i]);
      if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error('non-numeric point');
      pts.push(`${x},${y}`);
    }
    if (pts.length === 1) pts.push(pts[0]);
    if (pts.length) lines.push(`<polyline points="${pts.join(' ')}"/>`);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="-8 -8 272 272">` +
    `<rect x="-8" y="-8" width="272" height="272" fill="#fff"/>` +
    `<g fill="none" stroke="#000" stroke-width="${width}" stroke-linecap="round" stroke-linejoin="round">${lines.join('')}</g></svg>`
  );
}

async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    if (bytesRead !== length) throw new Error(`short read (${bytesRead} of ${length} bytes)`);
    return buf;
  } finally {
    await fh.close();
  }
}

async function scan(given: AdapterOptions): Promise<ScanResult> {
  const opts = readAdapterOptions(quickdrawOptions, given);
  const root = opts.root as string;
  if (!opts.photos)
    throw new DataError(
      'bad-option',
      'dataset "quickdraw" needs --photos <dir> (photos as <dir>/<category>/*)',
    );
  const photos = requireDir(opts.photos, 'photos');
  const max = opts.maxPerCategory ?? QUICKDRAW_DEFAULT_MAX;
  const files = findFiles(root, opts.format);
  if (files.length === 0)
    throw new DataError(
      'missing-dir',
      `option --root: no <category>.npy or <category>.ndjson files in ${root}`,
    );
  const allCats = files.map((f) => f.category);
  const cats = new Set(filterCategories(allCats, opts));
  const restrict = opts.categories || opts.maxCategories !== undefined ? [...cats] : undefined;
  const pairs = pairCategories(allCats, listDirs(photos), { sketch: root, photo: photos }, {}, restrict);

  const samples: Sample[] = [];
  const skipped: SkippedFile[] = [];
  for (const cf of files) {
    if (!cats.has(cf.category)) continue;
    const full = path.join(root, cf.file);
    if (cf.kind === 'npy') {
      const h = readNpyHeader(full);
      const [n, ...rest] = h.shape;
      const pixels = rest.reduce((a, b) => a * b, 1);
      if (!/^[|<>=]?u1$/.test(h.descr) || h.fortranOrder || pixels !== 784) {
        throw new DataError(
          'bad-file',
          `unexpected .npy layout in ${full}: dtype ${h.descr}, shape (${h.shape.join(', ')}); expected uint8 N x 784`,
        );
      }
      const size = fs.statSync(full).size;
      const available = Math.min(n, Math.floor((size - h.dataOffset) / 784));
      if (available < n)
        skipped.push({ source: cf.file, reason: `truncated .npy (${available} of ${n} rows)` });
      if (available === 0) throw new DataError('empty-category', messages.emptyCategory(full));
      for (let i = 0; i < Math.min(available, max); i++) {
        samples.push({
          domain: 'sketch',
          category: cf.category,
          instance: `${cf.category}#${i}`,
          source: `${cf.file}#${i}`,
          ref: { file: full, offset: h.dataOffset + i * 784, length: 784 },
        });
      }
    } else {
      const lines = await scanNdjson(full, max, (line, why) => {
        if (opts.strict) throw new DataError('bad-file', `bad drawing in ${full} line ${line} (${why})`);
        skipped.push({ source: `${cf.file}#line${line}`, reason: 'bad ndjson drawing' });
      });
      if (lines.length === 0) throw new DataError('empty-category', messages.emptyCategory(full));
      for (const l of lines) {
        samples.push({
          domain: 'sketch',
          category: cf.category,
          instance: l.key,
          source: `${cf.file}#${l.key}`,
          ref: { file: full, offset: l.offset, length: l.length },
        });
      }
    }
    const pDir = path.join(photos, pairs.get(cf.category) as string);
    const p = listImages(pDir, { strict: opts.strict, relativeTo: photos, prefix: 'photos' });
    skipped.push(...p.skipped);
    for (const f of capList(p.files, opts.maxPerCategory)) {
      samples.push({
        domain: 'photo',
        category: cf.category,
        instance: `photo:${stem(f)}`,
        source: relSource(path.join(pDir, f), photos, 'photos'),
      });
    }
  }
  return {
    samples,
    skipped,
    notes: {
      maxPerCategory: max,
      formats: [...new Set(files.filter((f) => cats.has(f.category)).map((f) => f.kind))],
    },
    licenses: [
      {
        name: 'quickdraw',
        spdx: 'CC-BY-4.0',
        title: 'The Quick, Draw! Dataset',
        url: 'https://github.com/googlecreativelab/quickdraw-dataset',
        author: 'Google Creative Lab',
        attribution:
          'Quick, Draw! dataset by Google, CC BY 4.0 (https://github.com/googlecreativelab/quickdraw-dataset).',
      },
      {
        name: 'quickdraw-photos',
        spdx: 'see-dataset-terms',
        attribution: `User-supplied photos from ${path.basename(photos)}.`,
      },
    ],
    async load(s: Sample, size: number): Promise<ImageInput> {
      if (s.domain === 'photo')
        return { kind: 'file', path: path.join(photos, s.source.slice('photos/'.length)) };
      const ref = s.ref as { file: string; offset: number; length: number };
      const bytes = await readRange(ref.file, ref.offset, ref.length);
      if (ref.file.endsWith('.npy'))
        return { kind: 'raw', data: bytes, width: 28, height: 28, channels: 1, negate: true };
      const rec = JSON.parse(bytes.toString('utf8')) as { drawing: unknown };
      return { kind: 'encoded', data: Buffer.from(strokesToSvg(rec.drawing, size)) };
    },
  };
}

export const quickdrawAdapter: DatasetAdapter = {
  name: 'quickdraw',
  version: '1',
  description:
    'QuickDraw: <root>/<category>.npy (28x28 bitmaps) or .ndjson (simplified strokes) + --photos <dir>/<category>/*',
  options: quickdrawOptions,
  needsRoot: true,
  defaultQueriesPerCategory: 0.1,
  defaultUnseen: 0.2,
  scan,
};
