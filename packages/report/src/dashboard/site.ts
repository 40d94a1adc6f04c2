/**
 * The static dashboard, a renderer of the view model (view/report-model.ts): plain HTML pages, and
 * vega, vega-lite and vega-embed copied from node_modules next to them (no CDN), so it opens from
 * file:// without fetch.
 *
 *   dashboard/index.html                    experiments list                      (index-page.ts)
 *   dashboard/e/<exp>/index.html            ablation table, charts, runs table    (experiment-page.ts)
 *   dashboard/e/<exp>/compare.html#runs=…   comparison of selected runs           (compare-page.ts)
 *   dashboard/e/<exp>/r/<cell>.html         one run                               (run-page.ts)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TABLE_CSS } from '../table/assemble';
import { assertInsideOut, copyInside, writeInside } from '../util/paths';
import type { ExperimentModel } from '../view/report-model';
import { comparePage } from './compare-page';
import { experimentPage } from './experiment-page';
import { indexPage } from './index-page';
import { expSlug, page, type DashboardOptions } from './page';
import { runPage } from './run-page';

export type { DashboardOptions } from './page';

/** Browser builds, found beside each package's main file (its build/ folder). */
const ASSET_SOURCES: Record<string, [string, string]> = {
  'vega.min.js': ['vega', 'vega.min.js'],
  'vega-lite.min.js': ['vega-lite', 'vega-lite.min.js'],
  'vega-embed.min.js': ['vega-embed', 'vega-embed.min.js'],
};

export function browserBuild(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(pkg)), file);
}

export const assetsDir = (): string => path.resolve(__dirname, '..', '..', 'assets', 'dashboard');

export async function writeDashboard(
  dir: string,
  views: ExperimentModel[],
  opts: DashboardOptions = {},
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, [pkg, file]] of Object.entries(ASSET_SOURCES))
    copyInside(dir, browserBuild(pkg, file), path.join('assets', name));
  const css = fs.readFileSync(path.join(assetsDir(), 'style.css'), 'utf8');
  writeInside(dir, path.join('assets', 'style.css'), `${css}\n/* ablation table */${TABLE_CSS}`);
  copyInside(dir, path.join(assetsDir(), 'app.js'), path.join('assets', 'app.js'));
  writeInside(dir, 'index.html', indexPage(views, opts));
  // what open pages poll under `report:serve --watch` (a new builtAt = reload)
  writeInside(
    dir,
    'build.json',
    `${JSON.stringify({ builtAt: new Date().toISOString(), watch: Boolean(opts.watch) })}\n`,
  );
  for (const v of views) {
    const ed = path.join(dir, 'e', expSlug(v.exp.id));
    fs.rmSync(assertInsideOut(dir, path.join(ed, 'r')), { recursive: true, force: true });
    writeInside(dir, path.join(ed, 'index.html'), experimentPage(v, opts));
    writeInside(dir, path.join(ed, 'compare.html'), comparePage(v, opts));
    for (const s of v.sections)
      if (s.page) writeInside(dir, path.join(ed, s.page.file), page(s.page.args(opts.mlflowUi)));
    for (const c of v.exp.cells)
      writeInside(dir, path.join(ed, 'r', `${c.cellId}.html`), runPage(v, c, opts, path.join(ed, 'r')));
  }
}
