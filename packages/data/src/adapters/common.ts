/** Helpers shared by the folder-based adapters: listing, category matching, filters. */
import * as fs from 'node:fs';
import { isDir } from '@sbir/core';
import * as path from 'node:path';
import { DataError, messages } from '../errors';
import type { CommonAdapterOptions, ImageInput, Sample, SkippedFile } from '../types';

export const IMAGE_EXTENSIONS = new Set([
  '.png',
  '.jpg',
  '.jpeg',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.svg',
  '.avif',
]);

export { isDir };

/** Throws a one-line error naming the option when `dir` is not a directory. */
export function requireDir(dir: string | undefined, option: string): string {
  if (!dir) throw new DataError('bad-option', `option --${option} is required`);
  if (!isDir(dir))
    throw new DataError(option === 'root' ? 'missing-root' : 'missing-dir', messages.missingDir(option, dir));
  return dir;
}

/** Sorted names of the visible sub-directories of `dir`. */
export function listDirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter(
      (e) =>
        !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDir(path.join(dir, e.name)))),
    )
    .map((e) => e.name)
    .sort(compareStrings);
}

/** Code-unit order, independent of locale, so every machine lists the same order. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ListedImages {
  files: string[];
  skipped: SkippedFile[];
}

/**
 * Image files of one category folder in sorted order. Files with another extension are skipped
 * (or fatal with `strict`); an empty folder is an error naming it.
 */
export function listImages(
  dir: string,
  opts: { strict?: boolean; relativeTo: string; prefix?: string; extensions?: Set<string> },
): ListedImages {
  const exts = opts.extensions ?? IMAGE_EXTENSIONS;
  const files: string[] = [];
  const skipped: SkippedFile[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.isDirectory()) continue;
    const full = path.join(dir, e.name);
    if (exts.has(path.extname(e.name).toLowerCase())) {
      files.push(e.name);
    } else {
      if (opts.strict) throw new DataError('bad-image', messages.notImage(full));
      skipped.push({
        source: relSource(full, opts.relativeTo, opts.prefix),
        reason: 'not an image file extension',
      });
    }
  }
  if (files.length === 0) throw new DataError('empty-category', messages.emptyCategory(dir));
  files.sort(compareStrings);
  return { files, skipped };
}

/** A POSIX relative path used as `source`, optionally under a prefix such as `extra-photos`. */
export function relSource(full: string, root: string, prefix?: string): string {
  const rel = path.relative(root, full).split(path.sep).join('/');
  return prefix ? `${prefix}/${rel}` : rel;
}

/** Key used to match category names across folders: lower case, letters and digits only. */
export function categoryKey(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

/** File name without its extension. */
export function stem(file: string): string {
  const base = path.basename(file);
  const ext = path.extname(base);
  return ext ? base.slice(0, -ext.length) : base;
}

/**
 * Pair the category folders of a photo set with the sketch categories. Names match by
 * `categoryKey`, then through `aliases` (normalised photo-folder key -> normalised sketch key).
 * Any category present on one side only is an error listing both differences; with `restrictTo`
 * (the categories asked for) only those must be present on both sides.
 */
export function pairCategories(
  sketchCats: string[],
  photoCats: string[],
  where: { sketch: string; photo: string },
  aliases: Record<string, string> = {},
  restrictTo?: string[],
): Map<string, string> {
  const byKey = new Map(sketchCats.map((c) => [categoryKey(c), c]));
  const pairs = new Map<string, string>(); // sketch category -> photo folder
  const onlyPhoto: string[] = [];
  for (const p of photoCats) {
    const k = categoryKey(p);
    const s = byKey.get(k) ?? byKey.get(aliases[k] ?? '');
    if (s === undefined || pairs.has(s)) onlyPhoto.push(p);
    else pairs.set(s, p);
  }
  const onlySketch = (restrictTo ?? sketchCats).filter((c) => !pairs.has(c));
  if (restrictTo) onlyPhoto.length = 0; // photo folders of categories not asked for are ignored
  if (onlySketch.length || onlyPhoto.length) {
    const list = (xs: string[]) =>
      xs.length ? xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, ... (${xs.length})` : '') : 'none';
    throw new DataError(
      'category-mismatch',
      `categories differ between sketch set ${where.sketch} and photo set ${where.photo}: only in sketches: ${list(onlySketch)}; only in photos: ${list(onlyPhoto)}`,
    );
  }
  return pairs;
}

/** Apply `categories` / `maxCategories` to a sorted category list (before any folder is read). */
export function filterCategories(cats: string[], opts: CommonAdapterOptions): string[] {
  let out = cats;
  if (opts.categories && opts.categories.length) {
    const wanted = new Map(opts.categories.map((c) => [categoryKey(c), c]));
    out = cats.filter((c) => wanted.delete(categoryKey(c)));
    if (wanted.size) {
      throw new DataError(
        'bad-option',
        `option --categories: not found in the dataset: ${[...wanted.values()].join(', ')}`,
      );
    }
  }
  if (opts.maxCategories !== undefined) out = out.slice(0, opts.maxCategories);
  return out;
}

/** The first `max` items (lists are sorted, so the choice is stable). */
export function capList<T>(items: T[], max: number | undefined): T[] {
  return max === undefined ? items : items.slice(0, max);
}

/** The loader used by adapters whose samples are plain files under known roots. */
export function fileLoader(resolve: (s: Sample) => string): (s: Sample) => Promise<ImageInput> {
  return async (s) => ({ kind: 'file', path: resolve(s) });
}
