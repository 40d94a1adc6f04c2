/** Any `<root>/{sketch,photo}/<category>/*` tree (also accepts `sketches/`, `photos/`, `images/`). */
import * as path from 'node:path';
import { z } from 'zod';
import { DataError } from '../errors';
import type { AdapterOptions, DatasetAdapter, Sample, ScanResult, SkippedFile } from '../types';
import {
  capList,
  fileLoader,
  filterCategories,
  isDir,
  listDirs,
  listImages,
  pairCategories,
  relSource,
  stem,
} from './common';
import { adapterOption, readAdapterOptions } from './options';

export const folderOptions = z.object({
  maxPerCategory: adapterOption.positiveInt('cap per category and domain'),
});

function pick(root: string, names: string[]): string {
  for (const n of names) if (isDir(path.join(root, n))) return path.join(root, n);
  throw new DataError(
    'missing-dir',
    `option --root: no ${names[0]}/ folder under ${root} (expected <root>/{sketch,photo}/<category>/*)`,
  );
}

async function scan(given: AdapterOptions): Promise<ScanResult> {
  const opts = readAdapterOptions(folderOptions, given);
  const root = opts.root as string;
  const sketchDir = pick(root, ['sketch', 'sketches']);
  const photoDir = pick(root, ['photo', 'photos', 'images']);
  const allCats = listDirs(sketchDir);
  if (allCats.length === 0) throw new DataError('empty-category', `no category folders in ${sketchDir}`);
  const cats = filterCategories(allCats, opts);
  const restrict = opts.categories || opts.maxCategories !== undefined ? cats : undefined;
  const pairs = pairCategories(
    allCats,
    listDirs(photoDir),
    { sketch: sketchDir, photo: photoDir },
    {},
    restrict,
  );
  const samples: Sample[] = [];
  const skipped: SkippedFile[] = [];
  for (const cat of cats) {
    for (const [domain, dir] of [
      ['sketch', path.join(sketchDir, cat)],
      ['photo', path.join(photoDir, pairs.get(cat) as string)],
    ] as const) {
      const l = listImages(dir, { strict: opts.strict, relativeTo: root });
      skipped.push(...l.skipped);
      for (const f of capList(l.files, opts.maxPerCategory)) {
        samples.push({
          domain,
          category: cat,
          instance: `${domain}:${stem(f)}`,
          source: relSource(path.join(dir, f), root),
        });
      }
    }
  }
  return {
    samples,
    skipped,
    licenses: [
      {
        name: 'folder',
        spdx: 'see-dataset-terms',
        attribution: `User-supplied images from ${path.basename(root)}.`,
      },
    ],
    load: fileLoader((s) => path.join(root, s.source)),
  };
}

export const folderAdapter: DatasetAdapter = {
  name: 'folder',
  version: '1',
  description: 'Generic: <root>/{sketch,photo}/<category>/*',
  options: folderOptions,
  needsRoot: true,
  defaultQueriesPerCategory: 0.1,
  defaultUnseen: 0.2,
  scan,
};
