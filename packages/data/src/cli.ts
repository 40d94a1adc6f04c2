#!/usr/bin/env node
/**
 * sbir-data CLI: `prepare` builds Arrow shards + manifest.json from a dataset; `inspect` summarises
 * a prepared folder and can write a contact sheet. Errors print one line and exit non-zero.
 *
 *   npx nx run data:prepare -- --dataset sketchy --root <dir> --size 224 --out <dir>
 *   npx nx run data:inspect -- --dir data/emoji-64 --contact-sheet sheet.png
 *   npx nx run data:vectors -- --dir data/emoji-64 --word-vectors glove-6b-50d
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT, exitWithError, sha256File, UsageError, yargsFailure } from '@sbir/core';
import { SingleBar } from 'cli-progress';
import yargs, { type Options } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { optionFlag, optionShape } from './adapters/options';
import { getAdapter, listAdapterOptions, listAdapters, type DeclaredOption } from './adapters/registry';
import { writeContactSheet } from './contact-sheet';
import { removeActiveTempFilesSync } from './io';
import { loadManifest } from './manifest';
import { DEFAULT_SIZE, imageDefaults, prepareDataset } from './prepare';
import { DOMAINS, SPLIT_NAMES, SPLIT_PROTOCOLS, SUBSETS, type Manifest, type PrepareProgress } from './types';
import { attachClassVectors } from './vectors/attach';
import { coverageLine } from './vectors/coverage-line';
import { DEFAULT_WORD_VECTORS } from './vectors/default';

/** The repository root (packages/data/src -> ../../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

function table(rows: (string | number)[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) =>
      r
        .map((v, c) => (typeof v === 'number' ? String(v).padStart(widths[c]) : String(v).padEnd(widths[c])))
        .join('  '),
    )
    .join('\n');
}

export function summarize(m: Manifest): string {
  const lines: string[] = [];
  const split = m.split;
  lines.push(
    `dataset ${m.dataset} (adapter v${m.adapterVersion}), ${m.size}x${m.size} RGB, fit ${m.fit}, ${m.classes.length} classes`,
  );
  lines.push(
    split.protocol === 'category'
      ? `split: category (DSH), seed ${split.seed}, ${split.source === 'split-file' ? `from split file ${split.splitFile?.path}` : `${split.queriesPerCategory} query sketches per category`}, photos in train: ${split.photosInTrain}`
      : `split: zeroshot, seed ${split.seed}, ${split.unseen.length} unseen / ${split.seenCount} seen classes, source ${split.source}${split.file ? ` (${split.file})` : ''}`,
  );
  const rows: (string | number)[][] = [['split', 'sketch', 'photo', 'total']];
  for (const s of SPLIT_NAMES)
    rows.push([s, m.counts[s].sketch, m.counts[s].photo, m.counts[s].sketch + m.counts[s].photo]);
  const tot = DOMAINS.map((d) => SPLIT_NAMES.reduce((a, s) => a + m.counts[s][d], 0));
  rows.push(['all rows', tot[0], tot[1], tot[0] + tot[1]]);
  lines.push(table(rows));
  lines.push(
    `reader subsets: ${SUBSETS.map((s) => `${s} = ${m.split.subsets[s].join('+')} (${m.subsetCounts[s].sketch + m.subsetCounts[s].photo})`).join(', ')}`,
  );
  const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
  lines.push(
    `shards: ${m.shards.length} files, ${(bytes / 1048576).toFixed(1)} MiB, <= ${m.shardRows} rows each`,
  );
  if (m.skipped.total)
    lines.push(
      `skipped: ${m.skipped.total} (${Object.entries(m.skipped.byReason)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')})`,
    );
  else lines.push('skipped: none');
  lines.push(`licenses: ${m.licenses.map((l) => `${l.name} ${l.spdx}`).join(', ')}`);
  return lines.join('\n');
}

/** Progress on stderr: a bar on a terminal, a plain line every 5 s otherwise. */
function progressReporter(quiet: boolean): { update(p: PrepareProgress): void; stop(): void } {
  if (quiet) return { update: () => undefined, stop: () => undefined };
  const tty = Boolean(process.stderr.isTTY);
  let bar: SingleBar | undefined;
  let phase = '';
  let lastLine = 0;
  let t0 = Date.now();
  let start = 0;
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.stop();
        bar = undefined;
        phase = p.phase;
        t0 = Date.now();
        start = p.done;
        if (p.phase === 'scan') process.stderr.write(`${p.message ?? 'scanning'}...\n`);
        if (tty && (p.phase === 'encode' || p.phase === 'verify') && p.total > 0) {
          bar = new SingleBar({
            format: `${p.phase === 'encode' ? 'encode [{bar}] {percentage}% {value}/{total} | {rate} img/s' : 'verify [{bar}] {percentage}% {value}/{total} shards | {rate} shards/s'} | ETA {eta_formatted} | skipped {skipped}`,
            stream: process.stderr,
            hideCursor: true,
          });
          bar.start(p.total, p.done, { rate: '-', skipped: 0 });
        }
      }
      const secs = (Date.now() - t0) / 1000;
      const rate = secs > 0 ? (p.done - start) / secs : 0;
      if (bar) {
        bar.update(p.done, { rate: rate.toFixed(1), skipped: p.skipped });
      } else if (
        !tty &&
        (p.phase === 'encode' || p.phase === 'verify') &&
        (Date.now() - lastLine > 5000 || p.done === p.total)
      ) {
        lastLine = Date.now();
        const eta = rate > 0 ? Math.round((p.total - p.done) / rate) : NaN;
        const unit = p.phase === 'verify' ? 'shards' : 'img';
        process.stderr.write(
          `${p.phase}: ${p.done}/${p.total} ${unit} (${p.total ? Math.floor((100 * p.done) / p.total) : 100}%) ${rate.toFixed(1)} ${unit}/s ETA ${Number.isFinite(eta) ? `${eta}s` : '-'} skipped ${p.skipped}\n`,
        );
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

const wordVectorOptions = {
  'word-vectors': {
    type: 'string',
    describe: `class-name word vectors: ${DEFAULT_WORD_VECTORS} (offline default, installed into .venv on first use) or a GloVe text / word2vec binary / fastText .vec file`,
  },
  'allow-missing-vectors': {
    type: 'boolean',
    default: false,
    describe:
      'a class without any word vector gets a zero row (listed in class-vectors.json) instead of an error',
  },
} as const;

function checkWordVectorsFile(value: string | undefined): void {
  if (value === undefined || value === DEFAULT_WORD_VECTORS) return;
  if (!fs.existsSync(value) || !fs.statSync(value).isFile())
    throw new UsageError(`option --word-vectors: no such file: ${value} (or give ${DEFAULT_WORD_VECTORS})`);
}

async function attachAndReport(
  dir: string,
  wordVectors: string,
  allowMissing: boolean,
  quiet: boolean,
): Promise<void> {
  const coverage = await attachClassVectors(dir, {
    wordVectors,
    allowMissing,
    onProgress: (line) => {
      if (!quiet) process.stderr.write(`${line}\n`);
    },
  });
  process.stdout.write(`${coverageLine(coverage, dir)}\n`);
}

/** One line on stderr; exit 2 for bad options and input data, 1 for runtime failures (@sbir/core cli.ts). */
function fail(err: unknown): never {
  exitWithError(err, removeActiveTempFilesSync);
}

function parseCategories(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = ([] as unknown[]).concat(v).flatMap((x) => String(x).split(','));
  return list.map((s) => s.trim()).filter(Boolean);
}

/**
 * Flags for the adapters' own options, read off their schemas (one flag per name, shared by adapters).
 * Typed as no options at all, so that yargs keeps the types of the fixed ones; `adapterValues` reads them.
 */
function adapterFlags(): Record<never, Options> {
  return Object.fromEntries(
    listAdapterOptions().map((o) => {
      const shape = optionShape(o.declaredBy[0].field);
      // no yargs default: a flag left out stays undefined, so it is no error for a dataset without it
      return [
        optionFlag(o.name),
        {
          type: shape.type,
          ...(shape.choices ? { choices: shape.choices } : {}),
          describe: describeOption(o),
        },
      ];
    }),
  );
}

/** `sketchy, folder: cap per category and domain; emoji: instances per category`: each adapter's text. */
function describeOption(o: DeclaredOption): string {
  const byText = new Map<string, string[]>();
  for (const { adapter, field } of o.declaredBy) {
    const s = optionShape(field);
    const text =
      s.defaultValue === undefined ? s.description : `${s.description} (default ${s.defaultValue})`;
    byText.set(text, [...(byText.get(text) ?? []), adapter]);
  }
  return [...byText].map(([text, adapters]) => `${adapters.join(', ')}: ${text}`).join('; ');
}

/** The adapters' option values from parsed arguments, by option name (undefined when not given). */
function adapterValues(a: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(listAdapterOptions().map((o) => [o.name, a[optionFlag(o.name)]]));
}

/** The dataset's default edge (for the default output folder name); ours for an unknown name, which prepare reports. */
function defaultSizeOf(dataset: string): number {
  return listAdapters().includes(dataset) ? imageDefaults(getAdapter(dataset)).size : DEFAULT_SIZE;
}

export async function main(argv: string[]): Promise<void> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      removeActiveTempFilesSync();
      process.stderr.write(`\ninterrupted (${sig}); rerun the same command to resume\n`);
      process.exit(sig === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
    });
  }
  await yargs(argv)
    .scriptName('sbir-data')
    .command(
      'prepare',
      'scan a dataset, split it and write Arrow shards + manifest.json',
      (y) =>
        y
          .option('dataset', {
            type: 'string',
            default: 'emoji',
            describe: `adapter: ${listAdapters().join(', ')}`,
          })
          .option('root', { type: 'string', describe: 'dataset folder (not used by emoji)' })
          .option('size', {
            type: 'number',
            describe: `output edge in pixels (default per dataset: sketchy, tuberlin 256, so that 224 px crops downsample; others ${DEFAULT_SIZE})`,
          })
          .option('out', {
            type: 'string',
            describe: 'output folder (default data/<dataset>-<size> in the repository)',
          })
          .option('fit', {
            choices: ['contain', 'cover', 'fill'] as const,
            describe:
              'resize mode: fill stretches (the authors, default for sketchy and tuberlin), contain pads with white (default otherwise), cover crops',
          })
          .option('split', { choices: SPLIT_PROTOCOLS, default: 'category' as const })
          .option('seed', { type: 'number', default: 0 })
          .option('queries-per-category', {
            type: 'number',
            describe: 'category split: query sketches per category (< 1: fraction); default per dataset',
          })
          .option('split-file', {
            type: 'string',
            describe: 'category split: published split JSON with query/test and train lists',
          })
          .option('photos-in-train', {
            type: 'boolean',
            default: true,
            describe: 'category split: photos are also training rows (authors’ setting)',
          })
          .option('unseen-file', {
            type: 'string',
            describe:
              'zeroshot: {unseen: string[]} file (default packages/data/splits/<dataset>-zeroshot.json)',
          })
          .option('unseen-count', {
            type: 'number',
            describe: 'zeroshot: seeded random choice of this many unseen classes',
          })
          .option('gallery-check', {
            type: 'boolean',
            default: true,
            describe:
              'compare the photos found with the published gallery (sketchy 73,002, tuberlin 204,489); --no-gallery-check to skip',
          })
          .options(adapterFlags())
          .option('categories', { type: 'string', describe: 'comma-separated categories to keep' })
          .option('max-categories', { type: 'number', describe: 'keep the first N categories (sorted)' })
          .option('shard-rows', { type: 'number', describe: 'rows per shard file (default 2048)' })
          .option('batch-rows', { type: 'number', describe: 'rows per Arrow record batch (default 256)' })
          .option('concurrency', { type: 'number', describe: 'parallel decodes (default 2 x cores)' })
          .option('strict', {
            type: 'boolean',
            default: false,
            describe: 'a corrupt or non-image file is fatal instead of skipped',
          })
          .options(wordVectorOptions)
          .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }),
      async (a) => {
        const out =
          a.out ?? path.join(REPO_ROOT, 'data', `${a.dataset}-${a.size ?? defaultSizeOf(a.dataset)}`);
        checkWordVectorsFile(a['word-vectors']); // before the long prepare, not after it
        const reporter = progressReporter(a.quiet);
        const t0 = Date.now();
        let m: Manifest;
        try {
          m = await prepareDataset({
            dataset: a.dataset,
            root: a.root,
            out,
            size: a.size,
            fit: a.fit,
            split: a.split,
            seed: a.seed,
            queriesPerCategory: a['queries-per-category'],
            splitFile: a['split-file'],
            photosInTrain: a['photos-in-train'],
            galleryCheck: a['gallery-check'],
            unseenFile: a['unseen-file'],
            unseenCount: a['unseen-count'],
            ...adapterValues(a),
            categories: parseCategories(a.categories),
            maxCategories: a['max-categories'],
            shardRows: a['shard-rows'],
            batchRows: a['batch-rows'],
            concurrency: a.concurrency,
            strict: a.strict,
            onProgress: (p) => reporter.update(p),
            log: (line) => {
              if (!a.quiet) process.stderr.write(`${line}\n`);
            },
          });
        } finally {
          reporter.stop();
        }
        const secs = (Date.now() - t0) / 1000;
        if (!a.quiet) {
          process.stdout.write(`${summarize(m)}\n`);
          process.stdout.write(`wrote ${out} in ${secs.toFixed(1)} s\n`);
        }
        if (a['word-vectors'] !== undefined)
          await attachAndReport(out, a['word-vectors'], a['allow-missing-vectors'], a.quiet);
      },
    )
    .command(
      'vectors',
      'attach class-name word vectors to a prepared dataset (class-vectors.npy + class-vectors.json, recorded in manifest.json)',
      (y) =>
        y
          .option('dir', { type: 'string', demandOption: true, describe: 'prepared dataset folder' })
          .options(wordVectorOptions)
          .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }),
      async (a) => {
        await attachAndReport(
          path.resolve(a.dir),
          a['word-vectors'] ?? DEFAULT_WORD_VECTORS,
          a['allow-missing-vectors'],
          a.quiet,
        );
      },
    )
    .command(
      'inspect',
      'print a prepared dataset’s manifest summary; optionally verify checksums or write a contact sheet',
      (y) =>
        y
          .option('dir', { type: 'string', demandOption: true, describe: 'prepared dataset folder' })
          .option('contact-sheet', {
            type: 'string',
            describe: 'write a PNG grid of samples per domain here',
          })
          .option('per-domain', { type: 'number', default: 24 })
          .option('columns', { type: 'number', default: 8 })
          .option('seed', { type: 'number', default: 0 })
          .option('verify', { type: 'boolean', default: false, describe: 'recompute every shard checksum' })
          .option('json', { type: 'boolean', default: false, describe: 'print the manifest as JSON' }),
      async (a) => {
        const m = loadManifest(path.resolve(a.dir));
        process.stdout.write(a.json ? `${JSON.stringify(m, null, 2)}\n` : `${summarize(m)}\n`);
        if (a.verify) {
          let bad = 0;
          for (const s of m.shards) {
            const got = await sha256File(path.join(a.dir, s.file));
            if (got !== s.sha256) {
              bad++;
              process.stdout.write(`checksum mismatch: ${path.join(a.dir, s.file)}\n`);
            }
          }
          process.stdout.write(
            bad
              ? `${bad} of ${m.shards.length} shards corrupt (rerun prepare to repair)\n`
              : `all ${m.shards.length} shard checksums match\n`,
          );
          if (bad) process.exitCode = EXIT.usage; // the input data is bad (@sbir/core cli.ts)
        }
        if (a['contact-sheet']) {
          const r = await writeContactSheet(a.dir, a['contact-sheet'], {
            perDomain: a['per-domain'],
            columns: a.columns,
            seed: a.seed,
          });
          process.stdout.write(
            `contact sheet: ${a['contact-sheet']} (${r.tiles} tiles, ${r.width}x${r.height}; sketches above, photos below)\n`,
          );
        }
      },
    )
    .demandCommand(1, 'give a command: prepare, inspect or vectors')
    .strict()
    .fail(yargsFailure)
    .help()
    .parseAsync();
}

if (require.main === module) {
  main(hideBin(process.argv)).catch(fail);
}
