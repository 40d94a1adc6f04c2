/**
 * The zero-shot study committed under docs/zeroshot/ (issue 19): its run store (config, status, eval,
 * metrics, lineage and class-neighbours files; checkpoints, embeddings and images left out) rebuilds
 * the committed section byte for byte, every row has at least 3 finished seeds, and the README's
 * verdict sentences are the ones the study's own numbers give.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeZeroShot, type ZeroShotView } from '../src/zeroshot/compute';
import { zeroShotSection } from '../src/zeroshot/section';
import { loadRunStore, readClassNeighbours } from '../src/store/read';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DOCS = path.join(ROOT, 'docs', 'zeroshot');

describe('the committed zero-shot study (docs/zeroshot)', () => {
  let view: ZeroShotView;
  beforeAll(() => {
    const exp = loadRunStore(path.join(DOCS, 'store'), 'zeroshot').experiments[0]!;
    view = computeZeroShot(exp, readClassNeighbours)!;
  });

  test('its store rebuilds the committed section exactly (verdicts from its own numbers)', () => {
    const { files } = zeroShotSection(view, 'zeroshot');
    for (const f of files) expect(f.content).toBe(fs.readFileSync(path.join(DOCS, f.path), 'utf8'));
  });

  test('every row has at least 3 finished seeds', () => {
    const rows = view.tables.flatMap((t) => t.rows);
    expect(rows.length).toBeGreaterThanOrEqual(7);
    for (const r of rows) for (const s of r.stats) expect(s.n).toBeGreaterThanOrEqual(3);
  });

  test("the READMEs state the study's verdicts as its numbers give them", () => {
    const sentences = view.claims.map((c) => c.sentence);
    expect(sentences.length).toBeGreaterThanOrEqual(3);
    for (const file of [path.join(DOCS, 'README.md'), path.join(ROOT, 'README.md')]) {
      const text = fs.readFileSync(file, 'utf8');
      for (const s of sentences) expect(text).toContain(s);
    }
  });
});
