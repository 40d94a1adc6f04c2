/**
 * The researcher's loop end to end (issue 13): train a tiny grid, edit the yaml and train again, then
 * go back with a command-line override; check the cell ids, experiment.json's cell set and history, the
 * report (no stale cells, their count stated; --include-stale puts them in their own rows) and the
 * compare view's config diff in a real Chromium.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { buildReport } from '../src/report';
import { serveStatic } from '../src/serve';
import { readJson, runCli, tmpDir, writeTinyExperiment } from '../../trainer/test/fixtures';

jest.setTimeout(600_000);

const executablePath = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => !!p && fs.existsSync(p),
);
if (!executablePath && process.env.CI)
  throw new Error('no Chromium found; install it with apt-get install chromium');

interface Meta {
  cells: string[];
  overrides: string[];
  history: { cells: string[]; added: string[]; removed: string[]; overrides: string[] }[];
}

test('edit the yaml, rerun, go back by an override: current cells only, stale ones counted, config diff in the compare view', async () => {
  const dir = tmpDir('loop');
  const runs = path.join(dir, 'runs');
  const name = 'loop';
  const file = writeTinyExperiment(dir, { name, grid: '  seed: [0, 1]', epochs: 1, train: 'limitRows: 96' });
  const ablation = async (...extra: string[]) => {
    const r = await runCli([
      'ablation',
      '--experiment',
      file,
      '--runs-dir',
      runs,
      '--workers',
      '1',
      ...extra,
    ]);
    expect({ code: r.code, out: (r.stdout + r.stderr).slice(-2000) }).toMatchObject({ code: 0 });
    return r.stdout;
  };
  const meta = () => readJson<Meta>(path.join(runs, name, 'experiment.json'));

  // 1. the grid as written: lr 0.001, seeds 0 and 1
  await ablation();
  const first = meta().cells;
  expect(first).toHaveLength(2);

  // 2. the yaml edited (lr 0.002): two new cells; the first two are stale, not deleted
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('lr: 0.001', 'lr: 0.002'));
  const out2 = await ablation();
  const second = meta().cells;
  expect(second).toHaveLength(2);
  expect(second.filter((id) => first.includes(id))).toEqual([]);
  expect(out2).toContain('2 cell folder(s) of an earlier grid are not in the current cell set');
  for (const id of first) expect(fs.existsSync(path.join(runs, name, id, 'eval.json'))).toBe(true);

  // the report: only the current cells, the stale ones counted
  const rep = path.join(dir, 'report');
  await buildReport({
    runsDir: runs,
    experiment: name,
    out: rep,
    png: false,
    referenceFile: path.join(dir, 'none'),
  });
  const md = fs.readFileSync(path.join(rep, 'ablation.md'), 'utf8');
  const rows = md.split('\n').filter((l) => l.startsWith('| SE'));
  expect(rows).toHaveLength(1);
  expect(rows[0]).toContain('(n=2)');
  expect(rows[0]).toContain('2 finished');
  expect(md).toContain('2 stale cell(s) left out');
  expect(fs.readFileSync(path.join(rep, 'report.md'), 'utf8')).toContain(
    '2 cells, 2 finished (2 stale left out)',
  );

  // 3. back to lr 0.001 by an override, seed 0 only: the resolved config is the first grid's, so are the ids
  const dry = await ablation('--dry-run', 'train.lr=1e-3', 'grid.seed=0');
  expect(dry).toContain('overrides: train.lr=1e-3 grid.seed=0');
  expect(dry).toMatch(new RegExp(`${first[0]}\\s+0\\s+finished`));
  await ablation('train.lr=1e-3', 'grid.seed=0');
  const m = meta();
  expect(m.cells).toEqual([first[0]]);
  expect(m.overrides).toEqual(['train.lr=1e-3', 'grid.seed=0']);
  expect(m.history.map((h) => h.cells)).toEqual([first, second, [first[0]]]);
  expect(m.history[2]).toMatchObject({ added: [first[0]], removed: second, overrides: m.overrides });
  // a finished cell is never rewritten: its config.json keeps the (empty) overrides it ran with
  expect(
    readJson<{ overrides: string[] }>(path.join(runs, name, first[0]!, 'config.json')).overrides,
  ).toEqual([]);
  expect(
    readJson<{ overrides: string[] }>(path.join(runs, name, second[0]!, 'config.json')).overrides,
  ).toEqual([]);

  await buildReport({
    runsDir: runs,
    experiment: name,
    out: rep,
    png: false,
    referenceFile: path.join(dir, 'none'),
  });
  const md3 = fs.readFileSync(path.join(rep, 'ablation.md'), 'utf8');
  expect(md3.split('\n').filter((l) => l.startsWith('| SE'))[0]).toContain('(n=1)');
  expect(md3).toContain('3 stale cell(s) left out');

  // --include-stale: the earlier configs in their own rows, never pooled with the current seed 0
  const all = path.join(dir, 'report-all');
  await buildReport({
    runsDir: runs,
    experiment: name,
    out: all,
    png: false,
    includeStale: true,
    referenceFile: path.join(dir, 'none'),
  });
  const mdAll = fs.readFileSync(path.join(all, 'ablation.md'), 'utf8');
  const allRows = mdAll.split('\n').filter((l) => l.startsWith('| SE'));
  // current: seed 0 of lr 0.001; set 1 (the first grid): its seed 1; set 2 (the edited yaml): both seeds
  expect(allRows.map((l) => l.split('|')[3]!.trim())).toEqual(['current', 'set 1', 'set 2']);
  expect(allRows.map((l) => /\(n=(\d)\)/.exec(l)?.[1])).toEqual(['1', '1', '2']);

  if (!executablePath) return;
  const browser: Browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const url = (root: string, rel: string) =>
      pathToFileURL(path.join(root, 'dashboard', 'e', name, rel)).href;
    await page.goto(url(rep, 'index.html'));
    expect(await page.locator('#stale-note').textContent()).toContain('3 stale cell(s) left out');
    expect(await page.locator('#runs-table tbody tr').count()).toBe(1);

    // compare the current seed-0 cell with the stale one of the edited yaml: only the learning rate
    // differs, as set (train.lr) and as the optimiser resolved it (config.json `resolved`)
    await page.goto(`${url(all, 'compare.html')}#runs=${first[0]},${second[0]}`);
    await page.waitForSelector('#config-diff tbody tr');
    const keys = await page.locator('#config-diff tbody tr td:first-child').allTextContents();
    expect(keys).toEqual(['resolved.optimizer.lr', 'train.lr']);
    const values = await page.locator('#config-diff tbody tr td').allTextContents();
    expect(values).toEqual(['resolved.optimizer.lr', '0.001', '0.002', 'train.lr', '0.001', '0.002']);
    expect(await page.locator('#config-diff-note').textContent()).toMatch(/^2 of \d+ keys differ/);
    // lineage rows beside the metrics: the same commit for both
    const commit = readJson<{ git: { commit: string } }>(path.join(runs, name, first[0]!, 'lineage.json')).git
      .commit;
    const gitRow = await page.locator('#compare-table tr[data-lineage="git commit"] td').allTextContents();
    expect(gitRow.slice(1).map((t) => t.slice(0, 12))).toEqual([commit.slice(0, 12), commit.slice(0, 12)]);

    // filter expressions on config keys and metrics, besides free text
    await page.goto(url(all, 'index.html'));
    const visible = () => page.locator('#runs-table tbody tr:visible').count();
    expect(await visible()).toBe(4);
    await page.fill('#filter', 'train.lr<0.0015');
    expect(await visible()).toBe(2);
    await page.fill('#filter', 'train.lr>0.0015 seed=1');
    expect(await visible()).toBe(1);
    await page.fill('#filter', 'mAP@all>-1 softmax');
    expect(await visible()).toBe(4);
    await page.fill('#filter', 'mAP@all>2');
    expect(await visible()).toBe(0);
    await page.fill('#filter', 'widht<3');
    expect(await page.locator('#filter-error').textContent()).toBe('unknown key "widht"');
    await page.fill('#filter', '');
    // the column chooser: any config key as a column
    await page.click('#column-chooser summary');
    await page.check('#column-chooser input[value="train.lr"]');
    expect(await page.locator('#runs-table th[data-col="train.lr"]').count()).toBe(1);
    expect((await page.locator('#runs-table td[data-col="train.lr"]').allTextContents()).sort()).toEqual([
      '0.001',
      '0.001',
      '0.002',
      '0.002',
    ]);
    await page.uncheck('#column-chooser input[value="train.lr"]');
    expect(await page.locator('#runs-table [data-col="train.lr"]').count()).toBe(0);

    // the run page: lineage, links to the cell's files, learning-rate and images/s curves
    await page.goto(url(all, `r/${first[0]}.html`));
    expect(await page.locator('#lineage td[data-lineage="git commit"]').textContent()).toContain(
      commit.slice(0, 12),
    );
    expect(await page.locator('#lineage td[data-lineage="dataset"]').textContent()).toContain('emoji');
    for (const f of ['eval.json', 'metrics.jsonl', 'checkpoints/', 'worker logs']) {
      const href = await page.locator(`#files a[data-file="${f}"]`).getAttribute('href');
      expect(fs.existsSync(new URL(href!, page.url()))).toBe(true);
    }
    await page.waitForSelector('[data-chart="throughput"] svg, [data-chart="throughput"] canvas');

    // auto-refresh under report:serve --watch: a rebuild reloads the open page
    await buildReport({
      runsDir: runs,
      experiment: name,
      out: rep,
      png: false,
      watch: true,
      referenceFile: path.join(dir, 'none'),
    });
    const server = await serveStatic(rep, { port: 0 });
    try {
      await page.goto(
        `${server.url.replace(/\/dashboard\/index\.html$/, '')}/dashboard/e/${name}/index.html`,
      );
      await page.waitForSelector('body[data-auto-refresh="on"]');
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
      await buildReport({
        runsDir: runs,
        experiment: name,
        out: rep,
        png: false,
        watch: true,
        referenceFile: path.join(dir, 'none'),
      });
      await page.waitForFunction(
        () => (window as unknown as { marker?: number }).marker === undefined,
        undefined,
        {
          timeout: 20_000,
        },
      );
      await page.waitForSelector('body[data-auto-refresh="on"]');
    } finally {
      await server.close();
    }
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
