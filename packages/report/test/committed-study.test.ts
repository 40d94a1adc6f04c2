/**
 * The sensitivity study committed under docs/sensitivity/ (issue 15): its run store (the cells'
 * config, status, eval and metrics files, checkpoints and embeddings left out) rebuilds the committed
 * section byte for byte, so the verdicts in docs/ are the ones its own numbers give; and the study has
 * at least two factors with every value run on ≥ 3 seeds per cell.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeSensitivity, type SensitivityView } from '../src/sensitivity/compute';
import { sensitivityLatex } from '../src/sensitivity/latex';
import { sensitivityMarkdown } from '../src/sensitivity/markdown';
import { loadRunStore } from '../src/store/read';

const DOCS = path.resolve(__dirname, '..', '..', '..', 'docs', 'sensitivity');

describe('the committed sensitivity study (docs/sensitivity)', () => {
  let view: SensitivityView;
  beforeAll(() => {
    const exp = loadRunStore(path.join(DOCS, 'store'), 'sensitivity').experiments[0]!;
    view = computeSensitivity(exp) as SensitivityView;
  });

  test('its store rebuilds the committed Markdown and LaTeX exactly (verdicts from its own numbers)', () => {
    const link = (i: number) => `charts/sensitivity-${i + 1}-${view.claims[i]!.axis}.png`;
    expect(`${sensitivityMarkdown(view, link)}\n`).toBe(
      fs.readFileSync(path.join(DOCS, 'sensitivity.md'), 'utf8'),
    );
    expect(sensitivityLatex(view, 'sensitivity')).toBe(
      fs.readFileSync(path.join(DOCS, 'sensitivity.tex'), 'utf8'),
    );
  });

  test('at least two factors have every value measured on at least 3 paired seeds in every setting', () => {
    const complete = view.factors.filter((f) =>
      view.claims.every((c) => {
        const settings = c.settings.filter((s) => s.factor === f.name);
        return f.values.every((v) => settings.some((s) => s.value === v)) && settings.every((s) => s.n >= 3);
      }),
    );
    expect(complete.length).toBeGreaterThanOrEqual(2);
  });
});
