/** The CLI as a user runs it (through tsx): outputs, exit codes, one-line errors, and `serve`. */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { storeSignature } from '../src/cli';
import { ablationFixture, hostileFixture, tmpDir, writeExperiment } from './helpers/fixtures';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(ROOT, 'packages', 'report', 'src', 'cli.ts');

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(TSX, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, MLFLOW_TRACKING_URI: '', SBIR_RUNS_DIR: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;

beforeAll(async () => {
  dir = tmpDir();
  await writeExperiment(path.join(dir, 'runs'), ablationFixture());
  await writeExperiment(path.join(dir, 'runs'), hostileFixture());
});

describe('report CLI', () => {
  it('builds one experiment into reports/<experiment>', () => {
    const r = cli(
      ['build', '--experiment', 'ablation', '--no-png', '--mlflow-ui', 'http://localhost:5000'],
      dir,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = path.join(dir, 'reports', 'ablation');
    for (const f of [
      'ablation.md',
      'ablation.tex',
      'ablation.csv',
      'ablation.html',
      'report.md',
      'charts/map-by-cell.svg',
      'charts/map-by-cell.vl.json',
      'dashboard/index.html',
      'dashboard/assets/vega-embed.min.js',
      'dashboard/e/ablation/index.html',
      'dashboard/e/ablation/compare.html',
    ])
      expect(fs.existsSync(path.join(out, f))).toBe(true);
    expect(fs.readdirSync(path.join(out, 'retrieval')).some((f) => f.endsWith('.svg'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'charts', 'map-by-cell.png'))).toBe(false);
    expect(r.stdout).toMatch(/wrote \d+ files to reports\/ablation/);
    expect(fs.readFileSync(path.join(out, 'dashboard', 'index.html'), 'utf8')).toContain(
      'href="http://localhost:5000"',
    );
    // regenerating gives identical tables (deterministic, from the run store alone)
    const before = fs.readFileSync(path.join(out, 'ablation.md'), 'utf8');
    expect(cli(['build', '--experiment', 'ablation', '--no-png'], dir).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'ablation.md'), 'utf8')).toBe(before);
  });

  it('builds all experiments with one dashboard', () => {
    const r = cli(['build', '--out', 'all', '--no-png'], dir);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'all', 'ablation', 'ablation.md'))).toBe(true);
    const hostile = fs.readdirSync(path.join(dir, 'all')).find((d) => d.startsWith('xss'));
    expect(hostile).toMatch(/^xss-script-alert-1-[0-9a-f]{8}$/);
    const index = fs.readFileSync(path.join(dir, 'all', 'dashboard', 'index.html'), 'utf8');
    expect(index).toContain('description with &lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(index).not.toContain('<script>window.__pwned');
  });

  it('fails with one line naming the file and field', () => {
    const bad = tmpDir();
    fs.cpSync(path.join(dir, 'runs'), path.join(bad, 'runs'), { recursive: true });
    const cell = fs
      .readdirSync(path.join(bad, 'runs', 'ablation'))
      .find((d) => fs.existsSync(path.join(bad, 'runs', 'ablation', d, 'eval.json')))!;
    const f = path.join(bad, 'runs', 'ablation', cell, 'eval.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), 'P@200': [0.3] }));
    const r = cli(['build', '--experiment', 'ablation'], bad);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toBe(
      `error: runs/ablation/${cell}/eval.json: field "P@200": expected number, got [0.3]`,
    );

    const r2 = cli(['build', '--experiment', 'nope'], dir);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim()).toMatch(
      /^error: runs: experiment "nope" not found \(known: ablation, xss<script>alert\(1\)\)$/,
    );

    const r3 = cli(['build', '--runs-dir', 'missing'], dir);
    expect(r3.code).toBe(2);
    expect(r3.stderr.trim()).toBe(
      'error: missing: runs directory not found (pass --runs-dir, or run the trainer first)',
    );

    const r4 = cli(['build', '--experiment', 'ablation', '--baseline', 'margin=4', '--no-png'], dir);
    expect(r4.code).toBe(2);
    expect(r4.stderr.trim()).toBe(
      'error: --baseline: "margin" is not a row axis of the table (row axes: block, loss)',
    );

    const r5 = cli(['frobnicate'], dir);
    expect(r5.code).toBe(2);

    // --runs-dir defaults to SBIR_RUNS_DIR, as the trainer's (@sbir/core sbirEnv)
    const r6 = cli(['build', '--experiment', 'ablation'], dir, { SBIR_RUNS_DIR: 'from-env' });
    expect(r6.code).toBe(2);
    expect(r6.stderr).toBe(
      'error: from-env: runs directory not found (pass --runs-dir, or run the trainer first)\n',
    );
    // an option's own check is a usage error too (yargs wraps what coerce throws)
    const r7 = cli(['serve', '--no-build', '--port', '70000'], dir);
    expect(r7.code).toBe(2);
    expect(r7.stderr).toBe('error: --port: expected an integer from 0 to 65535, got 70000\n');
  });

  it('serves the dashboard on 127.0.0.1 and prints the URL', async () => {
    const child = spawn(TSX, [CLI, 'serve', '--experiment', 'ablation', '--no-build', '--port', '0'], {
      cwd: dir,
      env: { ...process.env },
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${buf}`)), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /dashboard at (http:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(buf);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${buf}`)));
      });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain('Experiments');
      const asset = await fetch(url.replace('index.html', 'assets/vega.min.js'));
      expect(asset.headers.get('content-type')).toContain('javascript');
      expect(
        (await fetch(url.replace('/dashboard/index.html', '/%2e%2e/%2e%2e/etc/passwd'))).status,
      ).not.toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('notices run store changes for serve --watch', () => {
    const runs = path.join(dir, 'runs');
    const before = storeSignature(runs);
    expect(before).toContain('status.json');
    expect(storeSignature(runs)).toBe(before);
    const cell = fs.readdirSync(path.join(runs, 'ablation')).find((d) => d.length === 12)!;
    fs.appendFileSync(
      path.join(runs, 'ablation', cell, 'metrics.jsonl'),
      '{"kind":"step","step":999,"epoch":9,"loss":1}\n',
    );
    expect(storeSignature(runs)).not.toBe(before);
    expect(storeSignature(path.join(dir, 'nothing-here'))).toBe('');
  });
});
