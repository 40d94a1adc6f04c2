/**
 * Golden files: the report built from a fixed fixture store must match the committed outputs in
 * test/golden/ byte for byte (one table in each text format, the hostile experiment's Markdown table,
 * the zero-shot section's Markdown, LaTeX and CSV, and three chart specs), so a refactor of the report shows any change in what it writes.
 * `UPDATE_GOLDEN=1 npx jest packages/report/test/golden.test.ts` rewrites them; review the diff.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildReport } from '../src/report';
import {
  ablationFixture,
  hostileFixture,
  tmpDir,
  writeExperiment,
  zeroShotFixture,
} from './helpers/fixtures';

jest.setTimeout(120_000);

const GOLDEN_DIR = path.join(__dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** golden file name → file the report writes, relative to the experiment's output folder */
const GOLDEN: Record<string, Record<string, string>> = {
  ablation: {
    'ablation.md': 'ablation.md',
    'ablation.tex': 'ablation.tex',
    'ablation.csv': 'ablation.csv',
    'map-by-cell.vl.json': 'charts/map-by-cell.vl.json',
    'training-curves-emoji.vl.json': 'charts/training-curves-emoji.vl.json',
  },
  xss: { 'xss.md': 'ablation.md' },
  zeroshot: {
    'zeroshot.md': 'zeroshot.md',
    'zeroshot.tex': 'zeroshot.tex',
    'zeroshot.csv': 'zeroshot.csv',
    'zeroshot-per-class-emoji-sem-pcyc.vl.json': 'charts/zeroshot-per-class-emoji-sem-pcyc.vl.json',
  },
};

/**
 * A paper reference with transcribed numbers, so the paper columns appear and no note names a temp path.
 * Written by the test (not experiments/paper-reference.yaml) so the goldens do not move with that file.
 */
const REFERENCE = [
  'paper: { title: "golden reference" }',
  'results:',
  '  - { table: 3, dataset: emoji, block: SE, loss: softmax, metric: mAP@all, value: 0.401 }',
  '  - { table: 3, dataset: emoji, block: DASE, loss: MEMS, metric: mAP@all, value: 0.472 }',
  '  - { table: 3, dataset: quickdraw, block: DASE, loss: MEMS, metric: P@200, value: 0.3 }',
].join('\n');

const produced: Record<string, string> = {};

beforeAll(async () => {
  const root = tmpDir();
  const runsDir = path.join(root, 'runs');
  await writeExperiment(runsDir, ablationFixture());
  await writeExperiment(runsDir, hostileFixture());
  await writeExperiment(runsDir, zeroShotFixture());
  const referenceFile = path.join(root, 'paper-reference.yaml');
  fs.writeFileSync(referenceFile, REFERENCE);
  for (const [experiment, files] of Object.entries(GOLDEN)) {
    const out = path.join(root, 'out', experiment);
    await buildReport({ runsDir, experiment, out, referenceFile, png: false, dashboard: false });
    for (const [golden, file] of Object.entries(files))
      produced[golden] = fs.readFileSync(path.join(out, file), 'utf8');
  }
  if (UPDATE) {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    for (const [golden, text] of Object.entries(produced))
      fs.writeFileSync(path.join(GOLDEN_DIR, golden), text);
  }
});

describe('report golden files', () => {
  it.each(Object.values(GOLDEN).flatMap((files) => Object.keys(files)))(
    '%s matches test/golden/',
    (golden) => {
      const file = path.join(GOLDEN_DIR, golden);
      expect(fs.existsSync(file)).toBe(true);
      expect(produced[golden]).toBe(fs.readFileSync(file, 'utf8'));
    },
  );

  it('has no golden file left over that no output produces', () => {
    const expected = Object.values(GOLDEN).flatMap((files) => Object.keys(files));
    expect(fs.readdirSync(GOLDEN_DIR).sort()).toEqual([...expected].sort());
  });

  it('holds no path of the machine it was produced on', () => {
    for (const text of Object.values(produced)) expect(text).not.toMatch(/\/tmp\/|sbir-report-/);
  });
});
