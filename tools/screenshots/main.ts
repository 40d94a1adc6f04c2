/**
 * Screenshots of a built dashboard for the docs (a maintainer's tool, not part of the report package):
 *   npx nx run report:screenshots -- --dashboard reports/demo/dashboard --out docs/screenshots [--experiment demo]
 * Writes dashboard-experiment.png, dashboard-runs.png, report-table.png, dashboard-compare.png (one
 * run per table row) and dashboard-run.png (the best finished run of the experiment), plus copies of
 * the report's accuracy, distance, training-curve and retrieval figures when they sit beside the dashboard. Needs Chromium (CHROMIUM_PATH or /usr/bin/chromium).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { exitWithError, sbirEnv, yargsFailure } from '@sbir/core';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function findChromium(): string | undefined {
  return [
    sbirEnv().chromiumPath,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ].find((p): p is string => !!p && fs.existsSync(p));
}

export async function takeScreenshots(
  dashboard: string,
  out: string,
  experiment?: string,
): Promise<string[]> {
  // playwright-core is a dev dependency: load it only here
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no Chromium found: set CHROMIUM_PATH or apt-get install chromium');
  const expDir = path.join(dashboard, 'e');
  const exp = experiment ?? fs.readdirSync(expDir).sort()[0];
  if (!exp || !fs.existsSync(path.join(expDir, exp, 'index.html')))
    throw new Error(`${expDir}: no experiment page${experiment ? ` for "${experiment}"` : ''}`);
  fs.mkdirSync(out, { recursive: true });
  const url = (rel: string) => pathToFileURL(path.join(expDir, exp, rel)).href;
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  const written: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const save = async (name: string, clip?: string, fullPage = false) => {
      const file = path.join(out, name);
      if (clip) await page.locator(clip).first().screenshot({ path: file });
      else await page.screenshot({ path: file, fullPage });
      written.push(file);
    };
    await page.goto(url('index.html'));
    await page.waitForSelector('.chart svg', { timeout: 30_000 }).catch(() => undefined);
    await save('dashboard-experiment.png');
    await save('report-table.png', 'section.panel:has(table.ablation)');
    await page
      .locator('section.panel:has(#runs-table)')
      .evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollBy(0, -60));
    await save('dashboard-runs.png');
    // the comparison view: one finished run (the lowest seed) of each table row, at most four
    const pick = await page.$$eval('#runs-table tbody tr[data-state="finished"]', (rows) => {
      const head = Array.from(document.querySelectorAll('#runs-table thead th')).map(
        (th) => th.textContent ?? '',
      );
      const seedCol = head.findIndex((h) => h.startsWith('Seed'));
      const seeds = rows.map((r) =>
        Number((r as HTMLTableRowElement).cells[seedCol]?.getAttribute('data-sort')),
      );
      const lowest = Math.min(...seeds.filter((x) => Number.isFinite(x)));
      return rows
        .filter((_, i) => seeds[i] === lowest)
        .slice(0, 4)
        .map((r) => r.getAttribute('data-id') ?? '');
    });
    if (pick.length) {
      await page.goto(`${url('compare.html')}#runs=${pick.join(',')}`);
      await page.waitForSelector('.chart svg', { timeout: 30_000 }).catch(() => undefined);
      await page
        .locator('section.panel:has(#compare-table)')
        .evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await page.evaluate(() => window.scrollBy(0, -60));
      await save('dashboard-compare.png');
      await page.goto(url('index.html'));
    }
    // the best finished run by mAP@all
    const best = await page.$$eval('#runs-table tbody tr[data-state="finished"]', (rows) => {
      const col = Array.from(document.querySelectorAll('#runs-table thead th')).findIndex((th) =>
        th.textContent?.startsWith('mAP@all'),
      );
      let id = '';
      let top = -Infinity;
      for (const r of rows) {
        const v = Number((r as HTMLTableRowElement).cells[col]?.getAttribute('data-sort'));
        if (Number.isFinite(v) && v > top) {
          top = v;
          id = r.getAttribute('data-id') ?? '';
        }
      }
      return id;
    });
    if (best) {
      await page.goto(url(`r/${best}.html`));
      await page.waitForSelector('.chart svg', { timeout: 30_000 }).catch(() => undefined);
      await page.waitForTimeout(500);
      await save('dashboard-run.png', undefined, true);
    }
  } finally {
    await browser.close();
  }
  // the report's own figures, when the dashboard sits in the experiment's report folder
  const reportDir = path.dirname(path.resolve(dashboard));
  const firstPng = (dir: string, prefix: string) =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.startsWith(prefix) && f.endsWith('.png'))
          .sort()[0]
      : undefined;
  const figures: [string, string | undefined, string][] = [
    ['charts', firstPng(path.join(reportDir, 'charts'), 'map-by-cell'), 'report-map-by-cell.png'],
    ['charts', firstPng(path.join(reportDir, 'charts'), 'distances-'), 'report-distances.png'],
    ['charts', firstPng(path.join(reportDir, 'charts'), 'training-curves-'), 'report-training-curves.png'],
    ['retrieval', firstPng(path.join(reportDir, 'retrieval'), ''), 'report-retrieval.png'],
  ];
  for (const [sub, file, name] of figures) {
    if (!file) continue;
    fs.copyFileSync(path.join(reportDir, sub, file), path.join(out, name));
    written.push(path.join(out, name));
  }
  // palette PNGs: a third of the size, for a repository
  for (const f of written) {
    const buf = await sharp(f).png({ palette: true, quality: 90, effort: 8 }).toBuffer();
    fs.writeFileSync(f, buf);
  }
  return written;
}

async function main(argv: string[]): Promise<void> {
  const a = await yargs(argv)
    .option('dashboard', { type: 'string', demandOption: true, describe: 'a built dashboard folder' })
    .option('out', { type: 'string', default: 'docs/screenshots' })
    .option('experiment', {
      type: 'string',
      describe: 'experiment folder under dashboard/e (default: the first)',
    })
    .strict()
    .fail(yargsFailure)
    .parseAsync();
  const files = await takeScreenshots(a.dashboard, a.out, a.experiment);
  files.forEach((f) => console.log(`[report] screenshot ${f}`));
}

if (require.main === module) main(hideBin(process.argv)).catch((e: unknown) => exitWithError(e));
