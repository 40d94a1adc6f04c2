/**
 * TU-Berlin (Eitz et al., SIGGRAPH 2012): `png/<category>/*.png`, 250 categories, 80 sketches each.
 * Photos come from the TU-Berlin extension (Zhang et al. 2016, used by DSH): `--extra-photos
 * <dir>/<category>/*`. The extension's folder names drop spaces and some are misspelt; they are
 * matched by a normalised key plus the alias table below (folder names as listed in the DASE
 * authors' `datasets/split_data.py`).
 */
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
  requireDir,
  stem,
} from './common';
import { adapterOption, readAdapterOptions } from './options';

export const tuberlinOptions = z.object({
  extraPhotos: adapterOption.dir(
    'extension photo folder <dir>/<category>/* (required: TU-Berlin has no photos)',
  ),
  maxPerCategory: adapterOption.positiveInt('cap per category and domain'),
});

/** Extended TU-Berlin's photo count (Zhang et al. 2016, as used by DSH, CVPR 2017; docs/PAPER.md). */
export const TUBERLIN_EXTENDED_PHOTOS = 204489;

/** Extension photo folder (normalised key) -> TU-Berlin sketch category (normalised key). */
export const TUBERLIN_PHOTO_ALIASES: Record<string, string> = {
  tromobone: 'trombone',
  griaffe: 'giraffe',
  spidar: 'spider',
  chandeler: 'chandelier',
  spacesshuttle: 'spaceshuttle',
  wristwatching: 'wristwatch',
  diamod: 'diamond',
  pipe: 'pipeforsmoking',
  mouse: 'mouseanimal',
};

function findBase(root: string): string {
  const png = path.join(root, 'png');
  return isDir(png) ? png : root;
}

async function scan(given: AdapterOptions): Promise<ScanResult> {
  const opts = readAdapterOptions(tuberlinOptions, given);
  const root = opts.root as string;
  const base = findBase(root);
  if (!opts.extraPhotos) {
    throw new DataError(
      'bad-option',
      'dataset "tuberlin" needs --extra-photos <dir> (the TU-Berlin extension photos, <dir>/<category>/*): TU-Berlin itself has no photos',
    );
  }
  const extra = requireDir(opts.extraPhotos, 'extra-photos');
  const allCats = listDirs(base);
  if (allCats.length === 0)
    throw new DataError('empty-category', `no category folders in ${base} (expected png/<category>/*.png)`);
  const cats = filterCategories(allCats, opts);
  const restrict = opts.categories || opts.maxCategories !== undefined ? cats : undefined;
  const pairs = pairCategories(
    allCats,
    listDirs(extra),
    { sketch: base, photo: extra },
    TUBERLIN_PHOTO_ALIASES,
    restrict,
  );

  const samples: Sample[] = [];
  const skipped: SkippedFile[] = [];
  for (const cat of cats) {
    const sDir = path.join(base, cat);
    const s = listImages(sDir, { strict: opts.strict, relativeTo: root });
    skipped.push(...s.skipped);
    for (const f of capList(s.files, opts.maxPerCategory)) {
      samples.push({
        domain: 'sketch',
        category: cat,
        instance: `sketch:${stem(f)}`,
        source: relSource(path.join(sDir, f), root),
      });
    }
    const pDir = path.join(extra, pairs.get(cat) as string);
    const p = listImages(pDir, { strict: opts.strict, relativeTo: extra, prefix: 'extra-photos' });
    skipped.push(...p.skipped);
    for (const f of capList(p.files, opts.maxPerCategory)) {
      samples.push({
        domain: 'photo',
        category: cat,
        instance: `photo:${stem(f)}`,
        source: relSource(path.join(pDir, f), extra, 'extra-photos'),
      });
    }
  }
  return {
    samples,
    skipped,
    licenses: [
      {
        name: 'tuberlin',
        spdx: 'CC-BY-4.0',
        title: 'How Do Humans Sketch Objects? (TU-Berlin sketch dataset)',
        url: 'https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/',
        author: 'M. Eitz, J. Hays, M. Alexa (SIGGRAPH 2012)',
        attribution:
          'TU-Berlin sketches: M. Eitz, J. Hays, M. Alexa, How Do Humans Sketch Objects?, SIGGRAPH 2012. User-supplied; check the dataset terms.',
      },
      {
        name: 'tuberlin-extension',
        spdx: 'see-dataset-terms',
        attribution:
          'TU-Berlin extension photos (Zhang et al. 2016, as used by DSH, Liu et al. CVPR 2017). User-supplied.',
      },
    ],
    load: fileLoader((s) =>
      s.source.startsWith('extra-photos/')
        ? path.join(extra, s.source.slice('extra-photos/'.length))
        : path.join(root, s.source),
    ),
  };
}

export const tuberlinAdapter: DatasetAdapter = {
  name: 'tuberlin',
  version: '1',
  description: 'TU-Berlin: png/<category>/*.png + --extra-photos <dir>/<category>/*',
  options: tuberlinOptions,
  needsRoot: true,
  defaultQueriesPerCategory: 10,
  defaultUnseen: 30,
  // Dataset.py: Resize((224, 224)) of the original file, i.e. stretched; stored at 256 px so crops downsample
  defaultFit: 'fill',
  defaultSize: 256,
  publishedPhotos: {
    count: TUBERLIN_EXTENDED_PHOTOS,
    source: 'extended TU-Berlin, Zhang et al. 2016 as used by DSH, CVPR 2017',
  },
  scan,
};
