/** Tiny synthetic dataset trees for the tests (made with sharp, in a temp folder). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { venvPython } from '@sbir/core';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sbir-data-${tag}-`));
}

export function rmDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

function colourOf(name: string): { r: number; g: number; b: number } {
  const h = createHash('sha1').update(name).digest();
  return { r: h[0], g: h[1], b: h[2] };
}

/** A small image unique to `file`: a coloured square on a background, as PNG (with alpha) or JPEG. */
export async function writeImage(file: string, opts: { size?: number; alpha?: boolean } = {}): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const size = opts.size ?? 32;
  const c = colourOf(file);
  const inner = Math.max(2, Math.floor(size / 2));
  const square = await sharp({ create: { width: inner, height: inner, channels: 3, background: c } })
    .png()
    .toBuffer();
  const base = sharp({
    create: {
      width: size,
      height: size,
      channels: opts.alpha ? 4 : 3,
      background: opts.alpha ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 255 - c.r, g: 255 - c.g, b: 255 - c.b },
    },
  }).composite([{ input: square, left: Math.floor(size / 4), top: Math.floor(size / 4) }]);
  if (file.endsWith('.png')) await base.png().toFile(file);
  else await base.jpeg({ quality: 80 }).toFile(file);
}

async function writeAll(files: string[], opts: { size?: number; alpha?: boolean } = {}): Promise<void> {
  for (let i = 0; i < files.length; i += 16)
    await Promise.all(files.slice(i, i + 16).map((f) => writeImage(f, opts)));
}

export interface TreeSpec {
  categories: string[];
  sketches: number;
  photos: number;
  size?: number;
}

/** `<root>/{sketch,photo}/<category>/*` */
export async function makeFolderTree(root: string, spec: TreeSpec): Promise<void> {
  const files: string[] = [];
  for (const c of spec.categories) {
    for (let i = 0; i < spec.sketches; i++)
      files.push(path.join(root, 'sketch', c, `s${String(i).padStart(3, '0')}.png`));
    for (let i = 0; i < spec.photos; i++)
      files.push(path.join(root, 'photo', c, `p${String(i).padStart(3, '0')}.jpg`));
  }
  await writeAll(files, { size: spec.size });
}

/** Sketchy layout: sketch/<aug>/<cat>/<photo>-<k>.png and photo/<aug>/<cat>/<photo>.jpg. */
export async function makeSketchyTree(
  root: string,
  spec: {
    categories: string[];
    photosPerCategory: number;
    sketchesPerPhoto: number;
    sketchFolder?: string;
    extra?: string;
    extraPerCategory?: number;
  },
): Promise<void> {
  const sf = spec.sketchFolder ?? 'tx_000100000000';
  const files: string[] = [];
  spec.categories.forEach((c, ci) => {
    for (let p = 0; p < spec.photosPerCategory; p++) {
      const id = `n0${ci}_${p + 100}`;
      files.push(path.join(root, 'photo', 'tx_000000000000', c, `${id}.jpg`));
      for (let k = 1; k <= spec.sketchesPerPhoto; k++)
        files.push(path.join(root, 'sketch', sf, c, `${id}-${k}.png`));
    }
    if (spec.extra)
      for (let e = 0; e < (spec.extraPerCategory ?? 2); e++)
        files.push(path.join(spec.extra, c, `ext_${e}.jpg`));
  });
  await writeAll(files);
}

export function listShards(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(dir).sort()) {
    if (/^shard-\d+\.arrow$/.test(n))
      out[n] = createHash('sha256')
        .update(fs.readFileSync(path.join(dir, n)))
        .digest('hex');
  }
  return out;
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'packages', 'data', 'src', 'cli.ts');
export const PYTHON = venvPython();
