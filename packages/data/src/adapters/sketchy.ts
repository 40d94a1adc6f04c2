/**
 * Sketchy (Sangkloy et al., SIGGRAPH 2016): `sketch/<aug-folder>/<category>/*.png` and
 * `photo/<aug-folder>/<category>/*.jpg`, 125 categories, plus the extension photos collected by
 * Liu et al. (DSH, CVPR 2017) as `--extra-photos <dir>/<category>/*.jpg`.
 *
 * The sketch folder defaults to `tx_000100000000`, the folder the DASE authors train on
 * (Ben-Louis/SBIR-DASE-MEMS@589f789 README, "Datasets"; docs/PAPER.md); the photo folder to `tx_000000000000`.
 *
 * Photos: with `--extra-photos`, the extension folder alone, as the authors (their README's Sketchy
 * "Photos" download is the extended set, read as `photos/<category>` by split_data.py; the published
 * gallery is 73,002 photos). `--original-photos` adds `photo/<photo-folder>` on top (a deviation, named),
 * skipping an original whose file name is already in the extension's category, so no photo counts twice.
 * Without `--extra-photos` the original 12,500 photos are the gallery (not the paper's setting: prepare's
 * gallery check says so).
 */
import * as path from 'node:path';
import { z } from 'zod';
import { DataError, messages } from '../errors';
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

export const SKETCHY_SKETCH_FOLDER = 'tx_000100000000';
export const SKETCHY_PHOTO_FOLDER = 'tx_000000000000';

export const sketchyOptions = z.object({
  sketchFolder: adapterOption.name('sketch augmentation folder', SKETCHY_SKETCH_FOLDER),
  photoFolder: adapterOption.name('photo folder', SKETCHY_PHOTO_FOLDER),
  extraPhotos: adapterOption.dir('extension photo folder <dir>/<category>/*'),
  maxPerCategory: adapterOption.positiveInt('cap per category and domain'),
  originalPhotos: adapterOption.flag(
    'with --extra-photos, also add photo/<photo-folder> (not the authors: they use the extension alone); originals already in the extension are skipped',
  ),
});

/** Extended Sketchy's photo count (Liu et al., Deep Sketch Hashing, CVPR 2017; docs/PAPER.md). */
export const SKETCHY_EXTENDED_PHOTOS = 73002;

/** The folder holding `sketch/` and `photo/`: the root itself or the zip's `256x256` level. */
function findBase(root: string): string {
  for (const c of [root, path.join(root, '256x256'), path.join(root, 'rendered_256x256', '256x256')]) {
    if (isDir(path.join(c, 'sketch'))) return c;
  }
  throw new DataError(
    'missing-dir',
    `option --root: no sketch/ folder under ${root} (expected the Sketchy layout sketch/<aug-folder>/<category>/*.png)`,
  );
}

/** `n02691156_10151-3` -> `n02691156_10151`: a Sketchy sketch names the photo it was drawn from. */
export function sketchyInstance(file: string): string {
  return stem(file).replace(/-\d+$/, '');
}

async function scan(given: AdapterOptions): Promise<ScanResult> {
  const opts = readAdapterOptions(sketchyOptions, given);
  const root = opts.root as string;
  const base = findBase(root);
  const { sketchFolder, photoFolder } = opts;
  const sketchDir = path.join(base, 'sketch', sketchFolder);
  const photoDir = path.join(base, 'photo', photoFolder);
  if (!isDir(sketchDir)) throw new DataError('missing-dir', messages.missingDir('sketch-folder', sketchDir));
  const withOriginals = !opts.extraPhotos || Boolean(opts.originalPhotos);
  if (withOriginals && !isDir(photoDir))
    throw new DataError('missing-dir', messages.missingDir('photo-folder', photoDir));
  if (opts.extraPhotos && !isDir(opts.extraPhotos))
    throw new DataError('missing-dir', messages.missingDir('extra-photos', opts.extraPhotos));

  const allSketchCats = listDirs(sketchDir);
  if (allSketchCats.length === 0)
    throw new DataError('empty-category', `no category folders in ${sketchDir}`);
  const cats = filterCategories(allSketchCats, opts);
  const restrict = opts.categories || opts.maxCategories !== undefined ? cats : undefined;
  const photoPairs = withOriginals
    ? pairCategories(allSketchCats, listDirs(photoDir), { sketch: sketchDir, photo: photoDir }, {}, restrict)
    : undefined;
  const extraPairs = opts.extraPhotos
    ? pairCategories(
        allSketchCats,
        listDirs(opts.extraPhotos),
        { sketch: sketchDir, photo: opts.extraPhotos },
        {},
        restrict,
      )
    : undefined;

  const samples: Sample[] = [];
  const skipped: SkippedFile[] = [];
  const strict = opts.strict;
  for (const cat of cats) {
    const sDir = path.join(sketchDir, cat);
    const s = listImages(sDir, { strict, relativeTo: root });
    skipped.push(...s.skipped);
    for (const f of capList(s.files, opts.maxPerCategory)) {
      samples.push({
        domain: 'sketch',
        category: cat,
        instance: sketchyInstance(f),
        source: relSource(path.join(sDir, f), root),
      });
    }
    const inExtension = new Map<string, string>(); // file stem -> its extension source
    if (extraPairs && opts.extraPhotos) {
      const eDir = path.join(opts.extraPhotos, extraPairs.get(cat) as string);
      const e = listImages(eDir, { strict, relativeTo: opts.extraPhotos, prefix: 'extra-photos' });
      skipped.push(...e.skipped);
      for (const f of capList(e.files, opts.maxPerCategory)) {
        const source = relSource(path.join(eDir, f), opts.extraPhotos, 'extra-photos');
        inExtension.set(stem(f), source);
        samples.push({ domain: 'photo', category: cat, instance: `extra:${stem(f)}`, source });
      }
    }
    if (photoPairs) {
      const pDir = path.join(photoDir, photoPairs.get(cat) as string);
      const p = listImages(pDir, { strict, relativeTo: root });
      skipped.push(...p.skipped);
      for (const f of capList(p.files, opts.maxPerCategory)) {
        const source = relSource(path.join(pDir, f), root);
        const twin = inExtension.get(stem(f));
        if (twin) {
          skipped.push({ source, reason: `duplicate of an extension photo (${twin})` });
          continue;
        }
        samples.push({ domain: 'photo', category: cat, instance: stem(f), source });
      }
    }
  }
  const extra = opts.extraPhotos;
  return {
    samples,
    skipped,
    notes: { sketchFolder, photoFolder: withOriginals ? photoFolder : null, extraPhotos: Boolean(extra) },
    licenses: [
      {
        name: 'sketchy',
        spdx: 'see-dataset-terms',
        title: 'The Sketchy Database',
        url: 'https://sketchy.eye.gatech.edu/',
        author: 'Sangkloy, Burnell, Ham, Hays (SIGGRAPH 2016)',
        attribution:
          'The Sketchy Database: Learning to Retrieve Badly Drawn Bunnies, P. Sangkloy, N. Burnell, C. Ham, J. Hays, SIGGRAPH 2016. User-supplied; check the dataset terms before redistributing.',
      },
      ...(extra
        ? [
            {
              name: 'sketchy-extension',
              spdx: 'see-dataset-terms',
              attribution:
                'Sketchy extension photos from Deep Sketch Hashing, L. Liu et al., CVPR 2017. User-supplied.',
            },
          ]
        : []),
    ],
    load: fileLoader((s) =>
      s.source.startsWith('extra-photos/')
        ? path.join(extra as string, s.source.slice('extra-photos/'.length))
        : path.join(root, s.source),
    ),
  };
}

export const sketchyAdapter: DatasetAdapter = {
  name: 'sketchy',
  version: '2', // 2: the extension alone when --extra-photos is given; originals deduplicated
  description: 'Sketchy: sketch/<aug>/<category>/*.png, photo/<aug>/<category>/*.jpg (+ --extra-photos)',
  options: sketchyOptions,
  needsRoot: true,
  defaultQueriesPerCategory: 50,
  defaultUnseen: 25,
  // Dataset.py: Resize((224, 224)) of the original file, i.e. stretched; stored at 256 px so crops downsample
  defaultFit: 'fill',
  defaultSize: 256,
  publishedPhotos: {
    count: SKETCHY_EXTENDED_PHOTOS,
    source: 'extended Sketchy, Liu et al. DSH CVPR 2017',
  },
  scan,
};
