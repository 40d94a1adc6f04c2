/** manifest.json: schema-checked at load, written last (atomically) by `prepareDataset`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatPath, shellWord } from '@sbir/core';
import { z } from 'zod';
import { DataError, errorMessage } from './errors';
import { SPLIT_PROTOCOLS, type Manifest } from './types';

export const MANIFEST_FILE = 'manifest.json';

const domainCounts = z.object({
  sketch: z.number().int().nonnegative(),
  photo: z.number().int().nonnegative(),
});
const splitName = z.enum(['train', 'query', 'gallery']);
const subsets = z.object({
  train: z.array(splitName),
  query: z.array(splitName),
  gallery: z.array(splitName),
});

const manifestSchema = z
  .object({
    format: z.literal('sbir-shards'),
    formatVersion: z.literal(1),
    dataset: z.string().min(1),
    adapterVersion: z.string(),
    size: z.number().int().positive(),
    channels: z.literal(3),
    fit: z.enum(['contain', 'cover', 'fill']),
    classes: z.array(z.string()).min(1),
    split: z
      .object({
        protocol: z.enum(SPLIT_PROTOCOLS),
        seed: z.number().int(),
        source: z.string(),
        subsets,
      })
      .passthrough(),
    counts: z.object({ train: domainCounts, query: domainCounts, gallery: domainCounts }),
    subsetCounts: z.object({ train: domainCounts, query: domainCounts, gallery: domainCounts }),
    shardRows: z.number().int().positive(),
    batchRows: z.number().int().positive(),
    shards: z.array(
      z.object({
        file: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plain file name'),
        rows: z.number().int().nonnegative(),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        batches: z.array(
          z.object({
            rows: z.number().int().positive(),
            split: splitName,
            domain: z.enum(['sketch', 'photo']),
          }),
        ),
      }),
    ),
    licenses: z.array(
      z.object({ name: z.string(), spdx: z.string(), attribution: z.string() }).passthrough(),
    ),
    skipped: z.object({
      total: z.number().int(),
      byReason: z.record(z.number()),
      files: z.array(z.object({ source: z.string(), reason: z.string() })),
      truncated: z.boolean(),
    }),
    notes: z.record(z.unknown()),
    options: z.record(z.unknown()),
    planHash: z.string(),
    createdBy: z.string(),
    complete: z.literal(true),
    classVectors: z
      .object({
        file: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plain file name'),
        sha256: z.string().regex(/^sha256:[0-9a-f]{64}$/),
        coverageFile: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a plain file name'),
        coverageSha256: z.string().regex(/^sha256:[0-9a-f]{64}$/),
        source: z.string().min(1),
        format: z.enum(['glove', 'word2vec', 'fasttext']),
        dim: z.number().int().positive(),
      })
      .optional(),
  })
  .passthrough();

/**
 * Reads and checks `<dir>/manifest.json`. Throws a one-line DataError naming the file when it is
 * missing, unreadable, not complete, or not of this format.
 */
export function loadManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DataError(
      'bad-manifest',
      missing
        ? `no dataset manifest at ${file} (run: npx nx run data:prepare -- --out ${shellWord(dir)}; an interrupted prepare leaves no manifest)`
        : `cannot read ${file}: ${errorMessage(err)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError('bad-manifest', `${file} is not valid JSON (${errorMessage(err)})`);
  }
  if (json && typeof json === 'object' && (json as { complete?: unknown }).complete !== true) {
    throw new DataError('bad-manifest', `${file} is not marked complete (prepare was interrupted; rerun it)`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(
      'bad-manifest',
      `${file} is not a valid sbir-shards manifest: ${formatPath(issue.path) || '(root)'}: ${issue.message}`,
    );
  }
  return parsed.data as unknown as Manifest;
}
