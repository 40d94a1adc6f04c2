/**
 * Screenshots of a built dashboard for the docs (a maintainer's tool, not part of `build`):
 *   tsx packages/report/src/screenshots.ts --dashboard reports/demo/dashboard --out docs/screenshots [--experiment demo]
 * Writes dashboard-experiment.png, dashboard-runs.png, report-table.png and dashboard-run.png (the
 * best finished run of the experiment). Needs Chromium (CHROMIUM_PATH or /usr/bin/chromium).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function findChromium(): string | undefined {
  return [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && fs.existsSync(p));
}

export async function takeScreenshots(dashboard: string, out: string, experiment?: string): Promise<string[]> {
  // playwright-core is a dev dependency: load it only here
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no Chromium found: set CHROMIUM_PATH or apt-get install chromium');
  const expDir = path.join(dashboard, 'e');
  const exp = experiment ?? fs.readdirSync(expDir).sort()[0];
  if (!exp || !fs.existsSync(path.join(expDir, exp, 'index.html'))) throw new Error(`${expDir}: no experiment page${experiment ? ` for "${experiment}"` : ''}`);
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
    await page.locator('section.panel:has(#runs-table)').evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollBy(0, -60));
    await save('dashboard-runs.png');
    // the best finished run by mAP@all
    const best = await page.$$eval('#runs-table tbody tr[data-state="finished"]', (rows) => {
      const col = Array.from(document.querySelectorAll('#runs-table thead th')).findIndex((th) => th.textContent?.startsWith('mAP@all'));
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
  return written;
}

if (require.main === module) {
  const a = yargs(hideBin(process.argv))
    .option('dashboard', { type: 'string', demandOption: true, describe: 'a built dashboard folder' })
    .option('out', { type: 'string', default: 'docs/screenshots' })
    .option('experiment', { type: 'string', describe: 'experiment folder under dashboard/e (default: the first)' })
    .strict()
    .parseSync();
  takeScreenshots(a.dashboard, a.out, a.experiment)
    .then((files) => files.forEach((f) => console.log(`[report] screenshot ${f}`)))
    .catch((e: unknown) => {
      console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    });
}
