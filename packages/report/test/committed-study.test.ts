/**
 * The sensitivity study committed under docs/sensitivity/ (issues 15 and 22): its run store (the cells'
 * config, status, eval and metrics files, checkpoints and embeddings left out) rebuilds the committed
 * section and findings byte for byte, so the verdicts in docs/ are the ones its own numbers give; the
 * README states those findings verbatim; and every factor value of experiments/sensitivity.yaml is
 * measured on at least 3 paired seeds in every setting it applies to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { forestChartName } from '../src/charts/records/sensitivity-forest';
import { computeSensitivity, type SensitivityView } from '../src/sensitivity/compute';
import { findingsMarkdown } from '../src/sensitivity/findings';
import { sensitivityLatex } from '../src/sensitivity/latex';
import { sensitivityMarkdown } from '../src/sensitivity/markdown';
import { loadRunStore } from '../src/store/read';
import { htmlEntitiesOutsideCode } from './helpers/markdown-safety';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DOCS = path.join(ROOT, 'docs', 'sensitivity');
const read = (...p: string[]) => fs.readFileSync(path.join(...p), 'utf8');

describe('the committed sensitivity study (docs/sensitivity)', () => {
  let view: SensitivityView;
  beforeAll(() => {
    const exp = loadRunStore(path.join(DOCS, 'store'), 'sensitivity').experiments[0]!;
    view = computeSensitivity(exp) as SensitivityView;
  });

  test('its store rebuilds the committed Markdown, LaTeX and findings exactly (verdicts from its own numbers)', () => {
    const link = (i: number) => `charts/sensitivity-${i + 1}-${view.claims[i]!.axis}.png`;
    const forest = (i: number) => `charts/${forestChartName(view, i)}.png`;
    expect(`${sensitivityMarkdown(view, link, forest)}\n`).toBe(read(DOCS, 'sensitivity.md'));
    expect(sensitivityLatex(view, 'sensitivity')).toBe(read(DOCS, 'sensitivity.tex'));
    expect(findingsMarkdown(view)).toBe(read(DOCS, 'findings.md'));
    for (const i of view.claims.keys())
      expect(fs.existsSync(path.join(DOCS, `charts/${forestChartName(view, i)}.png`))).toBe(true);
  });

  test('the committed Markdown has no phantom rows and reads as text (no HTML entity outside code)', () => {
    for (const f of ['ablation.md', 'report.md', 'sensitivity.md', 'findings.md']) {
      const text = read(DOCS, f);
      expect({ f, phantom: text.split('\n').filter((l) => /\| 0 finished[^|]*\|$/.test(l)) }).toEqual({
        f,
        phantom: [],
      });
      expect({ f, entities: htmlEntitiesOutsideCode(text) }).toEqual({ f, entities: [] });
      expect(text).not.toMatch(/\\\[|\\\]/);
    }
  });

  test('the README states the committed findings verbatim', () => {
    const findings = read(DOCS, 'findings.md');
    expect(findings.trim().split('\n').length).toBeGreaterThanOrEqual(view.claims.length);
    expect(read(ROOT, 'README.md')).toContain(findings);
  });

  test('every factor of experiments/sensitivity.yaml has every value on >= 3 paired seeds in every setting', () => {
    const yaml = parse(read(ROOT, 'experiments', 'sensitivity.yaml')) as {
      sensitivity: { factors: Record<string, { values: unknown[] }> };
    };
    const missing: string[] = [];
    for (const [name, { values }] of Object.entries(yaml.sensitivity.factors)) {
      const factor = view.factors.find((f) => f.name === name);
      if (!factor) {
        missing.push(`${name}: not a factor of the store's experiment.json`);
        continue;
      }
      for (const c of view.claims) {
        // the settings the factor applies to: those measured at its baseline value with its cells there
        const at = (v: string, n: number) =>
          c.settings.filter((s) => s.factor === name && s.value === v && s.applies && s.n >= n);
        const others = at(factor.baseline, 0).map((s) => s.otherLabel);
        if (!others.length) missing.push(`${c.label}: ${name}=${factor.baseline} (the centre) not measured`);
        for (const v of values.map(String)) {
          const got = new Set(at(v, 3).map((s) => s.otherLabel));
          for (const o of others.filter((x) => !got.has(x)))
            missing.push(`${c.label}: ${name}=${v}${o ? ` (${o})` : ''}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
