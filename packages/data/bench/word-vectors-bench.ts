/**
 * Word-vector streaming benchmark (`npx nx run data:bench-vectors`): writes a word2vec binary file
 * the size of GoogleNews (3,000,000 words x 300 float32, 3.6 GB) in the OS temp folder, then reads
 * it in a child process for ~300 class tokens spread through the file (the last word included),
 * and records the child's peak RSS (process.resourceUsage().maxRSS) and throughput. The target is
 * peak RSS under 1 GiB: the reader keeps only the rows asked for. The file is deleted afterwards.
 * Results go to bench/results/word-vectors.json with the processor name.
 *
 *   npx tsx packages/data/bench/word-vectors-bench.ts [--words 3000000] [--dim 300] [--tokens 300]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitWithError, yargsFailure } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { writeFileAtomic } from '../src/io';
import { readWordVectors } from '../src/vectors/formats';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(REPO_ROOT, 'bench', 'results', 'word-vectors.json');
const TARGET_RSS_MIB = 1024;

/** Streams the file out in ~8 MiB writes: the generator itself never holds more than that. */
function writeWord2vec(file: string, words: number, dim: number): number {
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  const row = Buffer.alloc(dim * 4);
  for (let j = 0; j < dim; j++) row.writeFloatLE(Math.sin(j) / 4, 4 * j);
  const parts: Buffer[] = [Buffer.from(`${words} ${dim}\n`)];
  let pending = 0;
  const flush = () => {
    const buf = Buffer.concat(parts);
    fs.writeSync(fd, buf);
    bytes += buf.length;
    parts.length = 0;
    pending = 0;
  };
  try {
    for (let i = 0; i < words; i++) {
      row.writeFloatLE(i / words, 0); // rows differ, so a wrong row would show
      const head = Buffer.from(`word_${i} `);
      parts.push(head, Buffer.from(row), Buffer.from('\n'));
      pending += head.length + row.length + 1;
      if (pending >= 8 << 20) flush();
    }
    flush();
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** The child: reads the file for the tokens, prints one JSON line. */
async function child(file: string, words: number, tokens: number): Promise<void> {
  const wanted = new Set<string>();
  for (let k = 0; k < tokens - 1; k++) wanted.add(`word_${Math.floor((k * words) / (tokens - 1))}`);
  wanted.add(`word_${words - 1}`);
  const t0 = process.hrtime.bigint();
  const r = await readWordVectors(file, wanted);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const last = r.vectors.get(`word_${words - 1}`);
  process.stdout.write(
    `${JSON.stringify({
      secs,
      found: r.vectors.size,
      wanted: wanted.size,
      rows: r.rows,
      lastRowFirstValue: last?.[0],
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      sha256: r.sha256,
    })}\n`,
  );
}

async function main(): Promise<void> {
  const a = await yargs(hideBin(process.argv))
    .option('words', { type: 'number', default: 3_000_000 })
    .option('dim', { type: 'number', default: 300 })
    .option('tokens', { type: 'number', default: 300 })
    .option('child', { type: 'string', hidden: true })
    .strict()
    .fail(yargsFailure)
    .parseAsync();
  if (a.child) return child(a.child, a.words, a.tokens);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-word-vectors-bench-'));
  const file = path.join(tmp, 'vectors.bin');
  try {
    const loadAtStart = os.loadavg().map((x) => +x.toFixed(2));
    const g0 = Date.now();
    const bytes = writeWord2vec(file, a.words, a.dim);
    const genSecs = (Date.now() - g0) / 1000;
    process.stderr.write(
      `wrote ${(bytes / 2 ** 30).toFixed(2)} GiB in ${genSecs.toFixed(1)} s; reading it\n`,
    );
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        __filename,
        '--child',
        file,
        '--words',
        String(a.words),
        '--tokens',
        String(a.tokens),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    const r = JSON.parse(out.trim().split('\n').pop() as string) as {
      secs: number;
      found: number;
      wanted: number;
      rows: number;
      lastRowFirstValue: number;
      maxRssMiB: number;
    };
    const correct =
      r.found === r.wanted &&
      r.rows === a.words &&
      r.lastRowFirstValue === Math.fround((a.words - 1) / a.words);
    const result = {
      benchmark: 'word-vectors',
      description:
        'stream a GoogleNews-sized word2vec binary (words x dim float32) for ~300 class tokens; peak RSS of the reading process and throughput (sha256 computed in the same pass)',
      date: new Date().toISOString(),
      machine: {
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        cpus: os.cpus().length,
        platform: `${os.platform()} ${os.release()}`,
        totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
        node: process.version,
        loadAverage: { start: loadAtStart, end: os.loadavg().map((x) => +x.toFixed(2)) },
        note: 'cores may be shared with other jobs; the file may be in the page cache after being written',
      },
      config: { words: a.words, dim: a.dim, tokens: r.wanted, fileBytes: bytes },
      read: {
        seconds: +r.secs.toFixed(2),
        MiBPerSecond: +(bytes / 2 ** 20 / r.secs).toFixed(1),
        wordsPerSecond: Math.round(a.words / r.secs),
        peakRssMiB: +r.maxRssMiB.toFixed(1),
        found: r.found,
        correct,
      },
      generateSeconds: +genSecs.toFixed(1),
      target: { peakRssMiB: TARGET_RSS_MIB },
      pass: correct && r.maxRssMiB < TARGET_RSS_MIB,
    };
    await writeFileAtomic(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `read ${(bytes / 2 ** 30).toFixed(2)} GiB in ${r.secs.toFixed(1)} s (${result.read.MiBPerSecond} MiB/s), peak RSS ${result.read.peakRssMiB} MiB (target < ${TARGET_RSS_MIB}), ${r.found}/${r.wanted} tokens -> ${RESULTS}\n`,
    );
    if (!result.pass) process.exitCode = 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => exitWithError(e));
