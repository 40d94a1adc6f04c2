/**
 * Data benchmark (`npx nx run data:bench`), on one synthetic Sketchy-like tree (256 px PNG line
 * drawings and JPEG photos) made at the start:
 *
 * 1. throughput: `prepareDataset` images/s vs a bare sharp decode+resize of the same files with the
 *    same parallelism; the ratio is the figure (target >= 0.8);
 * 2. peak RSS while sharding, measured in a child process (process.resourceUsage().maxRSS) at two
 *    dataset sizes, to show that memory does not grow with the dataset.
 *
 * Results go to bench/results/data.json with machine info.
 *
 *   npx tsx packages/data/bench/data-bench.ts [--images 1200] [--sizes 64,224] [--repeat 3]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { exitWithError, yargsFailure } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { prepareDataset } from '../src';
import { writeFileAtomic } from '../src/io';
import { mapPool } from './map-pool';
import { defaultConcurrency } from '../src/prepare';
import { createRng } from '../src/rng';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(REPO_ROOT, 'bench', 'results', 'data.json');

function sketchSvg(rng: () => number): string {
  const lines: string[] = [];
  for (let s = 0; s < 6 + Math.floor(rng() * 8); s++) {
    const pts: string[] = [];
    let x = 30 + rng() * 196;
    let y = 30 + rng() * 196;
    for (let k = 0; k < 12; k++) {
      x = Math.min(250, Math.max(6, x + (rng() - 0.5) * 50));
      y = Math.min(250, Math.max(6, y + (rng() - 0.5) * 50));
      pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    lines.push(`<polyline points="${pts.join(' ')}"/>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#fff"/><g fill="none" stroke="#000" stroke-width="3">${lines.join('')}</g></svg>`;
}

function photoSvg(rng: () => number): string {
  const c = () => `rgb(${Math.floor(rng() * 255)},${Math.floor(rng() * 255)},${Math.floor(rng() * 255)})`;
  const shapes: string[] = [];
  for (let s = 0; s < 12; s++)
    shapes.push(
      `<circle cx="${rng() * 256}" cy="${rng() * 256}" r="${10 + rng() * 60}" fill="${c()}" fill-opacity="0.7"/>`,
    );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><defs><linearGradient id="g"><stop offset="0" stop-color="${c()}"/><stop offset="1" stop-color="${c()}"/></linearGradient></defs><rect width="256" height="256" fill="url(#g)"/>${shapes.join('')}</svg>`;
}

/** `<root>/{sketch,photo}/<category>/*`, half sketches (PNG) half photos (JPEG, with noise). */
async function makeTree(root: string, images: number, categories = 10): Promise<void> {
  const rng = createRng('data-bench');
  const jobs: { file: string; svg: string; photo: boolean }[] = [];
  const per = Math.ceil(images / (2 * categories));
  for (let c = 0; c < categories; c++) {
    for (let i = 0; i < per; i++) {
      jobs.push({ file: path.join(root, 'sketch', `c${c}`, `${i}.png`), svg: sketchSvg(rng), photo: false });
      jobs.push({ file: path.join(root, 'photo', `c${c}`, `${i}.jpg`), svg: photoSvg(rng), photo: true });
    }
  }
  for (let c = 0; c < categories; c++)
    for (const d of ['sketch', 'photo']) fs.mkdirSync(path.join(root, d, `c${c}`), { recursive: true });
  await mapPool(jobs, 4, async (j) => {
    const img = sharp(Buffer.from(j.svg));
    if (j.photo) await img.jpeg({ quality: 85 }).toFile(j.file);
    else await img.png().toFile(j.file);
  });
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  for (const d of ['sketch', 'photo'])
    for (const c of fs.readdirSync(path.join(root, d)).sort())
      for (const f of fs.readdirSync(path.join(root, d, c)).sort()) out.push(path.join(root, d, c, f));
  return out;
}

interface Run {
  /** images per wall-clock second */
  rate: number;
  /** process CPU milliseconds (all threads, user + system) per image */
  cpuMsPerImage: number;
}

async function timed(images: number, fn: () => Promise<unknown>): Promise<Run> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { rate: images / secs, cpuMsPerImage: (c.user + c.system) / 1000 / images };
}

/** The baseline: sharp decode + resize to raw RGB, nothing else, same parallelism. */
async function bare(files: string[], size: number, concurrency: number): Promise<Run> {
  return timed(files.length, async () => {
    const res = await mapPool(files, concurrency, async (f) =>
      sharp(f).resize(size, size).removeAlpha().raw().toBuffer(),
    );
    const failed = res.filter((r) => !r.ok).length;
    if (failed) throw new Error(`${failed} bare decodes failed`);
  });
}

async function prepared(
  root: string,
  images: number,
  out: string,
  size: number,
  concurrency: number,
): Promise<Run> {
  fs.rmSync(out, { recursive: true, force: true });
  return timed(images, async () => {
    const m = await prepareDataset({
      dataset: 'folder',
      root,
      out,
      size,
      concurrency,
      queriesPerCategory: 5,
    });
    const rows = m.shards.reduce((a, s) => a + s.rows, 0);
    if (rows !== images) throw new Error(`prepare wrote ${rows} rows for ${images} images`);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Child-process mode: prepare once and print the peak RSS. */
async function child(root: string, out: string, size: number): Promise<void> {
  const m = await prepareDataset({ dataset: 'folder', root, out, size, queriesPerCategory: 5 });
  process.stdout.write(
    JSON.stringify({
      maxRssKiB: process.resourceUsage().maxRSS,
      shards: m.shards.length,
      rows: m.shards.reduce((a, s) => a + s.rows, 0),
    }) + '\n',
  );
}

async function main(): Promise<void> {
  const a = await yargs(hideBin(process.argv))
    .option('images', {
      type: 'number',
      default: 1200,
      describe: 'images in the small tree (the large RSS tree has 3x)',
    })
    .option('sizes', { type: 'string', default: '64,224' })
    .option('repeat', { type: 'number', default: 3 })
    .option('concurrency', {
      type: 'number',
      describe: 'parallel decodes for both sides (default: prepare default)',
    })
    .option('skip-rss', { type: 'boolean', default: false })
    .option('child', { type: 'string', hidden: true })
    .option('out', { type: 'string', hidden: true })
    .option('size', { type: 'number', hidden: true })
    .option('keep', { type: 'boolean', default: false, describe: 'keep the temp folder' })
    .strict()
    .fail(yargsFailure)
    .parseAsync();
  if (a.child) return child(a.child, a.out as string, a.size as number);

  const loadAtStart = os.loadavg().map((x) => +x.toFixed(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-data-bench-'));
  try {
    const small = path.join(tmp, 'small');
    const large = path.join(tmp, 'large');
    let t = performance.now();
    await makeTree(small, a.images);
    await makeTree(large, 3 * a.images);
    process.stderr.write(
      `made ${a.images} + ${3 * a.images} images in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
    );
    const files = listFiles(small);
    const concurrency = a.concurrency ?? defaultConcurrency();
    const sizes = a.sizes.split(',').map(Number);

    const throughput = [];
    for (const size of sizes) {
      await bare(files, size, concurrency); // warm the page cache and sharp
      const bareRuns: Run[] = [];
      const prepRuns: Run[] = [];
      for (let r = 0; r < a.repeat; r++) {
        // interleaved, so that load from other processes hits both sides alike
        bareRuns.push(await bare(files, size, concurrency));
        prepRuns.push(await prepared(small, files.length, path.join(tmp, `out-${size}`), size, concurrency));
      }
      const rate = (runs: Run[]) => median(runs.map((x) => x.rate));
      const cpu = (runs: Run[]) => median(runs.map((x) => x.cpuMsPerImage));
      const row = {
        size,
        images: files.length,
        concurrency,
        bareImagesPerSec: +rate(bareRuns).toFixed(1),
        prepareImagesPerSec: +rate(prepRuns).toFixed(1),
        ratio: +(rate(prepRuns) / rate(bareRuns)).toFixed(3),
        bareCpuMsPerImage: +cpu(bareRuns).toFixed(3),
        prepareCpuMsPerImage: +cpu(prepRuns).toFixed(3),
        cpuRatio: +(cpu(bareRuns) / cpu(prepRuns)).toFixed(3),
        runs: {
          bare: bareRuns.map((x) => +x.rate.toFixed(1)),
          prepare: prepRuns.map((x) => +x.rate.toFixed(1)),
        },
      };
      process.stderr.write(
        `size ${size}: bare ${row.bareImagesPerSec} img/s, prepare ${row.prepareImagesPerSec} img/s, ratio ${row.ratio} (CPU-time ratio ${row.cpuRatio})\n`,
      );
      throughput.push(row);
    }

    const rss = [];
    const rssSize = Math.max(...sizes);
    for (const [name, root] of a['skip-rss']
      ? []
      : ([
          ['small', small],
          ['large', large],
        ] as const)) {
      t = performance.now();
      const outDir = path.join(tmp, `rss-${name}`);
      const stdout = execFileSync(
        process.execPath,
        ['--import', 'tsx', __filename, '--child', root, '--out', outDir, '--size', String(rssSize)],
        { cwd: REPO_ROOT, encoding: 'utf8' },
      );
      const r = JSON.parse(stdout.trim().split('\n').pop() as string) as {
        maxRssKiB: number;
        shards: number;
        rows: number;
      };
      const row = {
        name,
        size: rssSize,
        images: r.rows,
        shards: r.shards,
        maxRssMiB: +(r.maxRssKiB / 1024).toFixed(1),
        seconds: +((performance.now() - t) / 1000).toFixed(1),
      };
      process.stderr.write(
        `rss ${name}: ${row.images} images, ${row.shards} shards, peak RSS ${row.maxRssMiB} MiB\n`,
      );
      rss.push(row);
      fs.rmSync(outDir, { recursive: true, force: true });
    }

    const result = {
      benchmark: 'data',
      description:
        'prepareDataset throughput vs bare sharp decode+resize on the same files (ratio = prepare img/s / bare img/s, medians of interleaved runs; cpuRatio = bare CPU ms per image / prepare CPU ms per image, less sensitive to other load), and peak RSS of a prepare child process at two dataset sizes',
      date: new Date().toISOString(),
      machine: {
        platform: `${os.platform()} ${os.release()}`,
        arch: os.arch(),
        cpus: os.cpus().length,
        loadAverage: { start: loadAtStart, end: os.loadavg().map((x) => +x.toFixed(2)) },
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
        node: process.version,
        sharp: sharp.versions,
        sharpConcurrency: sharp.concurrency(),
        note: 'cores may be shared with other jobs; compare ratios rather than absolute rates',
      },
      config: {
        images: files.length,
        largeImages: 3 * a.images,
        sourceSize: 256,
        sizes,
        repeat: a.repeat,
        shardRows: 2048,
        batchRows: 256,
        concurrency,
      },
      target: { ratio: 0.8 },
      throughput,
      rss,
      rssGrowth: rss.length === 2 ? +(rss[1].maxRssMiB / rss[0].maxRssMiB).toFixed(3) : null,
      pass: throughput.every((r) => r.ratio >= 0.8),
    };
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    await writeFileAtomic(RESULTS, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(
      JSON.stringify(
        { throughput: throughput.map(({ runs: _runs, ...r }) => r), rss, pass: result.pass },
        null,
        2,
      ) + '\n',
    );
    process.stdout.write(`wrote ${path.relative(REPO_ROOT, RESULTS)}\n`);
  } finally {
    if (!a.keep) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => exitWithError(e));
