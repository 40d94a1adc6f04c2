/** @sbir/data: dataset adapters, Arrow shards with a manifest, and a streaming batch reader. */
export type {
  AdapterOptions,
  BatchOptions,
  CategorySplitDefinition,
  ClassVectorsRecord,
  DatasetAdapter,
  Domain,
  Fit,
  ImageBatch,
  ImageInput,
  LicenseInfo,
  Manifest,
  PrepareOptions,
  PrepareProgress,
  Sample,
  ScanResult,
  ShardDataset,
  ShardInfo,
  SkippedFile,
  SplitDefinition,
  SplitName,
  SplitProtocol,
  Subset,
  ZeroshotSplitDefinition,
} from './types';
export { DOMAINS, SPLIT_NAMES, SPLIT_PROTOCOLS, SUBSETS } from './types';
export { DataError, type DataErrorCode } from './errors';
export { getAdapter, listAdapters, registerAdapter } from './adapters/registry';
export {
  checkPrepareOptions,
  checkGallerySize,
  imageDefaults,
  prepareDataset,
  DEFAULT_SIZE,
  DEFAULT_SHARD_ROWS,
  DEFAULT_BATCH_ROWS,
} from './prepare';
export { loadManifest } from './manifest';
export { openDataset, DEFAULT_SHUFFLE_BUFFER } from './reader';
export { writeContactSheet, type ContactSheetOptions } from './contact-sheet';
export { decodeToRgb } from './image';
export { shardSchema } from './shards';
export { parseNpyHeader, encodeNpy } from './npy';
export { zeroshotFile } from './splits';
export {
  attachClassVectors,
  readClassVectors,
  CLASS_VECTORS_FILE,
  CLASS_COVERAGE_FILE,
  type AttachClassVectorsOptions,
  type ClassVectors,
  type ClassVectorCoverage,
} from './vectors/attach';
export { DEFAULT_WORD_VECTORS, DEFAULT_VECTORS_LICENSE } from './vectors/default';
export { coverageLine } from './vectors/coverage-line';
export { detectFormat, readWordVectors, type WordVectorFormat, type WordVectorRead } from './vectors/formats';
export { CLASS_ALIASES, type ClassAlias } from './vectors/aliases';
export { planClassTokens, type ClassTokenCoverage } from './vectors/tokens';
