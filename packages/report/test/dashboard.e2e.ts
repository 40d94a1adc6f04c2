/**
 * The dashboard in a real headless Chromium (playwright-core): experiments list, runs table (row count,
 * filter, sort, selection), comparison view, a run page with its charts and retrieval grid, the HTTP
 * server, and HTML escaping of hostile run names. Screenshots go to a tmp dir; with
 * SBIR_UPDATE_SCREENSHOTS=1 they are also copied to docs/screenshots/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { buildReport } from '../src/report';
import { serveStatic } from '../src/serve';
import { ablationFixture, hostileFixture, tmpDir, writeExperiment } from './helpers/fixtures';

jest.setTimeout(180_000);

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter((p): p is string => !!p);
const executablePath = CANDIDATES.find((p) => fs.existsSync(p));
if (!executablePath && process.env.CI)
  throw new Error(
    `no Chromium found (tried ${CANDIDATES.join(', ')}); install it with apt-get install chromium`,
  );
const describeBrowser = executablePath ? describe : describe.skip;

/** Polls until `get()` returns a value that `ok` accepts (the DOM updates asynchronously), then asserts it. */
async function eventually<T>(get: () => Promise<T>, ok: (v: T) => boolean, timeout = 10_000): Promise<T> {
  const end = Date.now() + timeout;
  let v = await get();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}
const hasCount = async (l: Locator, n: number) =>
  expect(
    await eventually(
      () => l.count(),
      (c) => c === n,
    ),
  ).toBe(n);
const hasText = async (l: Locator, t: string) =>
  expect(
    await eventually(
      async () => ((await l.first().textContent()) ?? '').trim(),
      (x) => x === t,
    ),
  ).toBe(t);
const hasAttr = async (l: Locator, name: string, want: string | RegExp) => {
  const match = (v: string | null) => (typeof want === 'string' ? v === want : v !== null && want.test(v));
  const v = await eventually(() => l.first().getAttribute(name), match);
  if (typeof want === 'string') expect(v).toBe(want);
  else expect(v).toMatch(want);
};

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SHOTS = tmpDir('sbir-report-shots-');

describeBrowser('dashboard in headless Chromium', () => {
  let out: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    const dir = tmpDir();
    const runs = path.join(dir, 'runs');
    await writeExperiment(runs, ablationFixture());
    await writeExperiment(runs, hostileFixture());
    out = path.join(dir, 'reports');
    await buildReport({
      runsDir: runs,
      out,
      mlflowUi: 'http://127.0.0.1:5000',
      referenceFile: path.join(dir, 'none.yaml'),
      png: false,
    });
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    // nothing may be fetched from the network: every asset is local
    await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  });

  afterAll(async () => {
    await browser?.close();
  });

  const fileUrl = (rel: string) => pathToFileURL(path.join(out, 'dashboard', rel)).href;

  async function shot(name: string, opts: { fullPage?: boolean; clip?: string } = {}): Promise<void> {
    const file = path.join(SHOTS, name);
    if (opts.clip) await page.locator(opts.clip).first().screenshot({ path: file });
    else await page.screenshot({ path: file, fullPage: opts.fullPage ?? false });
    if (process.env.SBIR_UPDATE_SCREENSHOTS === '1') {
      const dest = path.join(ROOT, 'docs', 'screenshots', name);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(file, dest);
    }
  }

  const visibleRows = () => page.locator('#runs-table tbody tr:visible').count();

  it('lists the experiments and escapes hostile names', async () => {
    await page.goto(fileUrl('index.html'));
    await hasCount(page.locator('.exp-card'), 2);
    const names = await page.locator('.exp-card h2').allTextContents();
    expect(names).toContain('xss');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('.exp-card script').count()).toBe(0);
    await hasAttr(page.locator('a.mlflow'), 'href', 'http://127.0.0.1:5000');
  });

  it('shows the runs table with sorting and filtering', async () => {
    await page.locator('.exp-card', { hasText: 'SE vs DASE' }).click();
    await page.waitForSelector('#runs-table');
    expect(await visibleRows()).toBe(36);
    await hasText(page.locator('#row-count'), '36 runs');

    // filter by state: one failed run, one running
    await page.selectOption('#state-filter', 'failed');
    expect(await visibleRows()).toBe(1);
    expect(await page.locator('#runs-table tbody tr:visible .err').textContent()).toContain(
      'loss became NaN',
    );
    await page.selectOption('#state-filter', 'running');
    expect(await visibleRows()).toBe(1);
    await page.selectOption('#state-filter', '');

    // free-text filter: every word must match
    await page.fill('#filter', 'dase mems emoji');
    expect(await visibleRows()).toBe(3);
    await hasText(page.locator('#row-count'), 'showing 3 of 36 runs');
    await page.fill('#filter', '');
    expect(await visibleRows()).toBe(36);

    // sort by mAP@all, descending on the second click; blanks (failed/running) go last
    const mapHeader = page.locator('#runs-table thead th', { hasText: 'mAP@all' });
    await mapHeader.click();
    await hasAttr(mapHeader, 'aria-sort', 'ascending');
    await mapHeader.click();
    await hasAttr(mapHeader, 'aria-sort', 'descending');
    const col = await mapHeader.evaluate((th) => (th as HTMLTableCellElement).cellIndex);
    const values = await page.$$eval(`#runs-table tbody tr td:nth-child(${col + 1})`, (tds) =>
      tds.map((td) => td.getAttribute('data-sort') ?? ''),
    );
    const nums = values.filter((v) => v !== '').map(Number);
    expect(nums.length).toBe(34);
    expect(nums).toEqual([...nums].sort((a, b) => b - a));
    expect(values.slice(34)).toEqual(['', '']);
    expect(nums[0]).toBeCloseTo(0.47, 6); // the running seed's 0.49 is not final, so not listed

    // the ablation table and the accuracy chart are there
    await hasCount(page.locator('table.ablation tbody tr'), 6);
    await page.waitForSelector('.chart[data-chart="map"] svg', { timeout: 30_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('dashboard-experiment.png');
    await page.locator('#runs-table thead th', { hasText: 'Status' }).click(); // failed first, then finished, running
    await page
      .locator('section.panel:has(#runs-table)')
      .evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollBy(0, -60)); // under the sticky top bar
    await shot('dashboard-runs.png');
    await page.locator('table.ablation').scrollIntoViewIfNeeded();
    await shot('report-table.png', { clip: 'section.panel:has(table.ablation)' });
  });

  it('compares selected runs', async () => {
    const rows = page.locator('#runs-table tbody tr');
    await rows.nth(0).locator('input.pick').check();
    await rows.nth(1).locator('input.pick').check();
    await hasText(page.locator('#compare-link'), 'Compare 2 selected');
    await page.locator('#compare-link').click();
    await page.waitForSelector('#compare-table thead');
    await hasCount(page.locator('#compare-table thead th'), 3);
    await hasCount(page.locator('#compare-picker input:checked'), 2);
    await page.waitForSelector('.chart[data-chart="curves"] svg', { timeout: 30_000 });
    // change the selection from the picker: the hash and the table follow
    await page.locator('#compare-picker input:not(:checked)').first().check();
    await hasCount(page.locator('#compare-table thead th'), 4);
    expect(page.url()).toMatch(/#runs=[0-9a-f]{12}(,[0-9a-f]{12}){2}$/);
    await page
      .locator('section.panel:has(#compare-table)')
      .evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollBy(0, -60));
    await shot('dashboard-compare.png');
  });

  it('opens a run with curves, charts and retrieval examples', async () => {
    await page.goto(fileUrl('e/ablation/index.html'));
    await page.fill('#filter', 'dase mems quickdraw seed 0');
    expect(await visibleRows()).toBe(1);
    await page.locator('#runs-table tbody tr:visible .run-name > a').click();
    await hasText(page.locator('h1'), 'DASE · MEMS · quickdraw · seed 0');
    await hasText(page.locator('.badge'), 'finished');
    for (const k of ['curves', 'pr', 'distances', 'pca'])
      await page.waitForSelector(`.chart[data-chart="${k}"] svg`, { timeout: 30_000 });
    await hasCount(page.locator('.retrieval .rq'), 3);
    expect(await page.locator('.retrieval .thumb.wrong').first().isVisible()).toBe(true);
    const broken = await page.$$eval(
      '.retrieval img',
      (imgs) =>
        imgs.filter((i) => !(i as HTMLImageElement).complete || (i as HTMLImageElement).naturalWidth === 0)
          .length,
    );
    expect(broken).toBe(0);
    await hasAttr(
      page.locator('a.button', { hasText: 'MLflow' }),
      'href',
      /^http:\/\/127\.0\.0\.1:5000\/#\/runs\/mlflowrun\d{4}$/,
    );
    await shot('dashboard-run.png', { fullPage: true });
  });

  it('shows a failed run with its error, and escapes hostile config strings', async () => {
    await page.goto(fileUrl('index.html'));
    await page.locator('.exp-card', { hasText: 'xss' }).click();
    await page.waitForSelector('#runs-table');
    expect(await visibleRows()).toBe(4);
    await hasText(page.locator('h1'), 'xss');
    await hasText(
      page.locator('.hero .desc'),
      'description with <script>window.__pwned=1</script> & "quotes"',
    );
    const failed = page.locator('#runs-table tbody tr[data-state="failed"] .run-name > a');
    await failed.click();
    await hasText(page.locator('.alert .err-text'), 'boom <script>window.__pwned=1</script>');
    await page.goBack();
    await page.locator('#runs-table tbody tr .run-name > a', { hasText: 'run <script>' }).click();
    await hasText(page.locator('h1'), 'run <script>window.__pwned=1</script>');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('is served over HTTP on 127.0.0.1', async () => {
    const h = await serveStatic(out, { port: 0 });
    try {
      expect(h.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/index\.html$/);
      await page.goto(h.url.replace('/dashboard/index.html', '/'));
      await hasCount(page.locator('.exp-card'), 2);
      await page.goto(h.url.replace('/dashboard/index.html', '/dashboard/e/ablation/index.html'));
      await page.waitForSelector('.chart[data-chart="map"] svg', { timeout: 30_000 });
      const res = await page.goto(h.url.replace('/dashboard/index.html', '/../../etc/passwd'));
      expect(res?.status()).not.toBe(200);
    } finally {
      await h.close();
    }
  });

  it('raised no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
