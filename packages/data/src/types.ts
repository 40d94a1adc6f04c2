/** Shared types of @sbir/data: samples from adapters, the shard manifest, and the reader's batches. */
import type { z } from 'zod';

export type Domain = 'sketch' | 'photo';
export const DOMAINS: readonly Domain[] = ['sketch', 'photo'];

/** Value of a row's `split` column. */
export type SplitName = 'train' | 'query' | 'gallery';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'query', 'gallery'];

/** What a consumer asks the reader for; `manifest.split.subsets` maps each to split values. */
export type Subset = 'train' | 'query' | 'gallery';
export const SUBSETS: readonly Subset[] = ['train', 'query', 'gallery'];

/** How a dataset is split: the one list of protocols (manifest, data CLI, trainer schema). */
export const SPLIT_PROTOCOLS = ['category', 'zeroshot'] as const;
export type SplitProtocol = (typeof SPLIT_PROTOCOLS)[number];
export type Fit = 'contain' | 'cover' | 'fill';

/** One image an adapter found. `source` is unique within a dataset and becomes the row id. */
export interface Sample {
  domain: Domain;
  category: string;
  /** Instance id: Sketchy sketches share their photo's id; elsewhere usually the file stem. */
  instance: string;
  /** Path relative to the dataset root (or a virtual path such as `noto/dog-face.svg`). */
  source: string;
  /** Adapter-private locator (byte range, row index, ...); not written to shards. */
  ref?: { offset?: number; length?: number; index?: number; file?: string; set?: string; name?: string };
}

/** How to obtain an image's pixels; the pipeline flattens, resizes and converts every kind to RGB. */
export type ImageInput =
  | { kind: 'file'; path: string }
  | { kind: 'encoded'; data: Buffer }
  | { kind: 'raw'; data: Buffer; width: number; height: number; channels: 1 | 3 | 4; negate?: boolean };

export interface LicenseInfo {
  /** What the entry covers, e.g. `noto` or `sketchy`. */
  name: string;
  domain?: Domain | 'metadata';
  spdx: string;
  title?: string;
  url?: string;
  author?: string;
  attribution: string;
  package?: string;
  version?: string;
}

export interface SkippedFile {
  source: string;
  reason: string;
}

/** Options every adapter understands (applied by the shared helpers in adapters/common.ts). */
export interface CommonAdapterOptions {
  /** Resolved to an absolute path before `scan`. */
  root?: string;
  /** Keep only these categories (matched by normalised name). */
  categories?: string[];
  /** Keep only the first N categories in sorted order (after other filters). */
  maxCategories?: number;
  /** Fatal instead of skipped for non-image files met during the scan. */
  strict?: boolean;
}

/**
 * An adapter's own options: a zod object of `adapterOption.*` fields (type, description, default),
 * exported by the adapter's file; prepare's checks and the data CLI's flags derive from it.
 */
export type AdapterOptionsSchema = z.ZodObject<z.ZodRawShape>;

/** What `scan` receives: the common options plus the adapter's own, keyed by their camelCase names. */
export type AdapterOptions = CommonAdapterOptions & { [option: string]: unknown };

export interface ScanResult {
  samples: Sample[];
  licenses: LicenseInfo[];
  skipped: SkippedFile[];
  /** Adapter facts for the manifest (emoji: how many icons matched emojibase, threshold...). */
  notes?: Record<string, unknown>;
  /** Where the sample's pixels come from; `size` is the output edge (vector sources render at it). */
  load(sample: Sample, size: number): Promise<ImageInput>;
}

export interface DatasetAdapter {
  name: string;
  /** Bumped when the adapter would produce different rows from the same input. */
  version: string;
  description: string;
  /** The options this adapter reads besides the common ones (others given are an error). */
  options: AdapterOptionsSchema;
  /** Whether `--root` is required. */
  needsRoot: boolean;
  /** Category protocol default: query sketches per category (a value < 1 is a fraction). */
  defaultQueriesPerCategory: number;
  /** Zero-shot default unseen count when no split file exists (a value < 1 is a fraction). */
  defaultUnseen: number;
  /**
   * Image preparation when `--fit` / `--size` are not given (default `contain`, DEFAULT_SIZE). Sketchy and
   * TU-Berlin follow the authors: stretched (`fill`, Dataset.py `Resize((224, 224))`) and stored at 256
   * px, so that the 224 px crops of the input pipeline downsample rather than upsample.
   */
  defaultFit?: Fit;
  defaultSize?: number;
  /**
   * The published photo count of the full dataset (the retrieval gallery under the authors' protocol),
   * checked after the scan unless `galleryCheck` is false or the scan is a subset (categories, caps).
   */
  publishedPhotos?: { count: number; source: string };
  scan(opts: AdapterOptions): Promise<ScanResult>;
}

export interface ShardBatchInfo {
  rows: number;
  split: SplitName;
  domain: Domain;
}

export interface ShardInfo {
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
  /** Record batches in file order; each holds rows of one split and one domain. */
  batches: ShardBatchInfo[];
}

export interface CategorySplitDefinition {
  protocol: 'category';
  seed: number;
  /** `seeded` (per-category seeded shuffle) or `split-file`. */
  source: 'seeded' | 'split-file';
  queriesPerCategory: number;
  photosInTrain: boolean;
  splitFile?: {
    path: string;
    sha256: string;
    listedQuery: number;
    listedTrain: number;
    matchedQuery: number;
    matchedTrain: number;
    missing: number;
    unlisted: number;
  };
  reference: string;
  subsets: Record<Subset, SplitName[]>;
}

export interface ZeroshotSplitDefinition {
  protocol: 'zeroshot';
  seed: number;
  /** `file` (a versioned list) or `seeded` (random choice from the seed). */
  source: 'file' | 'seeded';
  file?: string;
  fileSource?: string;
  unseen: string[];
  seenCount: number;
  reference: string;
  subsets: Record<Subset, SplitName[]>;
}

export type SplitDefinition = CategorySplitDefinition | ZeroshotSplitDefinition;

export interface Manifest {
  format: 'sbir-shards';
  formatVersion: 1;
  dataset: string;
  adapterVersion: string;
  size: number;
  channels: 3;
  fit: Fit;
  classes: string[];
  split: SplitDefinition;
  /** Rows per split value and domain, e.g. `counts.query.sketch`. */
  counts: Record<SplitName, Record<Domain, number>>;
  /** Rows per reader subset and domain (photos count in `train` and `gallery` under the DSH protocol). */
  subsetCounts: Record<Subset, Record<Domain, number>>;
  shardRows: number;
  batchRows: number;
  shards: ShardInfo[];
  licenses: LicenseInfo[];
  skipped: { total: number; byReason: Record<string, number>; files: SkippedFile[]; truncated: boolean };
  notes: Record<string, unknown>;
  options: Record<string, unknown>;
  planHash: string;
  createdBy: string;
  complete: true;
  /** Class-name word vectors attached by `attachClassVectors` (absent when none were). */
  classVectors?: ClassVectorsRecord;
}

/** manifest.json `classVectors`: the files in the dataset folder and their digests (`sha256:<hex>`). */
export interface ClassVectorsRecord {
  /** `class-vectors.npy`: [classes x dim] float32, rows in manifest class order. */
  file: string;
  sha256: string;
  /** `class-vectors.json`: the coverage report. */
  coverageFile: string;
  coverageSha256: string;
  /** `glove-6b-50d` or the user's file as given. */
  source: string;
  format: 'glove' | 'word2vec' | 'fasttext';
  dim: number;
}

export interface PrepareProgress {
  phase: 'scan' | 'verify' | 'encode' | 'done';
  done: number;
  total: number;
  skipped: number;
  message?: string;
}

/** Prepare's own options and the common adapter options. */
export interface NamedPrepareOptions extends CommonAdapterOptions {
  dataset: string;
  out: string;
  size?: number;
  fit?: Fit;
  split?: SplitProtocol;
  seed?: number;
  /** Category protocol: query sketches per category (< 1: fraction of the category's sketches). */
  queriesPerCategory?: number;
  /** Category protocol: the authors' split JSON (query/test and train lists). */
  splitFile?: string;
  /** Category protocol: photos are also training rows (the authors' choice). Default true. */
  photosInTrain?: boolean;
  /** Zero-shot: a `{dataset, unseen, source}` file; default `packages/data/splits/<dataset>-zeroshot.json`. */
  unseenFile?: string;
  /** Zero-shot: seeded random choice of this many unseen classes (ignores split files). */
  unseenCount?: number;
  /**
   * Compare the photos found with the adapter's `publishedPhotos` (default true): a count off by more
   * than 1% is an error naming both numbers. False prepares whatever the folders hold.
   */
  galleryCheck?: boolean;
  /** Rows per shard file (default 2048). */
  shardRows?: number;
  /** Rows per Arrow record batch inside a shard (default 256). */
  batchRows?: number;
  /** Parallel decodes (default: 2 x cores, at least 2). */
  concurrency?: number;
  onProgress?: (p: PrepareProgress) => void;
  log?: (line: string) => void;
}

/** What prepareDataset takes: its own options plus the dataset adapter's (its `options` schema). */
export interface PrepareOptions extends NamedPrepareOptions {
  [adapterOption: string]: unknown;
}

/** Prepare's own option names, which no adapter option may take (registerAdapter checks). */
export const PREPARE_OPTION_NAMES = [
  'dataset',
  'root',
  'out',
  'size',
  'fit',
  'split',
  'seed',
  'queriesPerCategory',
  'splitFile',
  'photosInTrain',
  'unseenFile',
  'unseenCount',
  'galleryCheck',
  'categories',
  'maxCategories',
  'strict',
  'shardRows',
  'batchRows',
  'concurrency',
  'onProgress',
  'log',
] as const satisfies readonly (keyof NamedPrepareOptions)[];
// a compile error here names a NamedPrepareOptions key missing from PREPARE_OPTION_NAMES
const preparedOptionsListed: Exclude<
  keyof NamedPrepareOptions,
  (typeof PREPARE_OPTION_NAMES)[number]
> extends never
  ? true
  : never = true;
void preparedOptionsListed;

export interface ImageBatch {
  n: number;
  height: number;
  width: number;
  channels: 3;
  /** n*h*w*3 RGB, row-major NHWC. */
  images: Uint8Array;
  /** Category index into manifest.classes. */
  labels: Int32Array;
  /** 0 = sketch, 1 = photo. */
  domains: Uint8Array;
  ids: string[];
  categories: string[];
}

export interface BatchOptions {
  subset: Subset;
  batchSize: number;
  shuffle?: boolean;
  shuffleBuffer?: number;
  seed?: number;
  /** Half of each batch sketches, half photos (two shuffled streams); ends when either runs out. */
  balanceDomains?: boolean;
  dropLast?: boolean;
  /** At most this many rows in total. */
  limit?: number;
  /** Only rows of this domain (not in the contract; used by tools such as the contact sheet). */
  domain?: Domain;
}

export interface ShardDataset {
  manifest: Manifest;
  dir: string;
  count(subset: Subset): number;
  batches(opts: BatchOptions): AsyncIterable<ImageBatch>;
  /** Checks every shard against its sha256 in the manifest (cached per process); throws DataError. */
  verify(): Promise<void>;
}
