/**
 * The report on an untrusted run store (run stores get shared, downloaded, synced): every fixture here
 * is written by the test as an attacker would shape it (traversal ids, symbolic links to files outside,
 * formula and HTML payloads, truncated and corrupted files), and each test proves one defence with the
 * real reader, writers and server. The last block runs the real `trainer:ablation` target.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import MarkdownIt from 'markdown-it';
import { htmlEntitiesOutsideCode, injectedHtml } from './helpers/markdown-safety';
import { buildReport, type BuildOptions } from '../src/report';
import { ReportInputError } from '../src/messages';
import { serveStatic } from '../src/serve';
import { csvField, texEscape } from '../src/table/assemble';
import { writeInside } from '../src/util/paths';
import { tmpDir, writeExperiment, type FixtureExperiment } from './helpers/fixtures';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const REPORT_CLI = path.join(ROOT, 'packages', 'report', 'src', 'cli.ts');

const FORMULA = "=cmd|' /C calc'!A0";
const SCRIPT = '<script>alert("md")</script>';
const JS_LINK = '<a href="javascript:alert(2)">x</a>';
const SVG = '<svg onload=alert(3)>';
const MD_LINK = '[click](javascript:alert(4))';
const TEX = '\\input{/etc/passwd}';
const DATASET = `emoji ${JS_LINK} ${TEX}`;

/** 2 blocks (one an HTML payload) x 2 losses (one a formula) x 2 seeds; the payload rows score lower. */
function hostileExperiment(): FixtureExperiment {
  const blocks = ['se', SVG];
  const losses = ['softmax', FORMULA];
  const cells: FixtureExperiment['cells'] = [];
  for (const [bi, block] of blocks.entries())
    for (const [li, loss] of losses.entries())
      for (const seed of [0, 1])
        cells.push({
          axes: { block, loss, seed },
          state: 'finished',
          map: 0.5 - 0.05 * bi - 0.03 * li + 0.01 * seed,
          extraConfig: {
            name: `run ${SCRIPT} ${block} ${seed}`,
            dataset: { name: DATASET, dir: 'data/emoji-64', split: 'category' },
          },
        });
  return {
    name: 'hostile',
    description: `${SCRIPT} ${JS_LINK} ${SVG} ${MD_LINK}\n# heading injection\n- list injection`,
    axes: { block: blocks, loss: losses, seed: [0, 1] },
    cells,
  };
}

let pristine: string; // a runs dir holding the hostile experiment, copied by each test that edits it

beforeAll(async () => {
  pristine = path.join(tmpDir('sbir-hostile-'), 'runs');
  await writeExperiment(pristine, hostileExperiment());
});

/** A fresh copy of the store: { root (a tmp folder), runs, exp (the experiment folder), cells (ids) }. */
function store() {
  const root = tmpDir('sbir-hostile-');
  const runs = path.join(root, 'runs');
  fs.cpSync(pristine, runs, { recursive: true });
  const exp = path.join(runs, 'hostile');
  const cells = fs.readdirSync(exp).filter((d) => /^[0-9a-f]{12}$/.test(d));
  return { root, runs, exp, cells, out: path.join(root, 'out') };
}

const build = (runs: string, out: string, extra: Partial<BuildOptions> = {}) =>
  buildReport({
    runsDir: runs,
    experiment: 'hostile',
    out,
    png: false,
    referenceFile: '/nonexistent',
    ...extra,
  });

/** The one-line input error a build fails with. */
async function buildError(runs: string, out: string): Promise<string> {
  const e = await build(runs, out).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ReportInputError);
  const msg = (e as Error).message;
  expect(msg).not.toContain('\n');
  return msg;
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

const editJson = (file: string, edit: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(j);
  fs.writeFileSync(file, JSON.stringify(j));
};

describe('ids read from the store, and writes outside --out', () => {
  it('refuses a cell id made of ../ segments in experiment.json, and writes nothing outside --out', async () => {
    const s = store();
    const escape = path.join(s.root, 'escaped');
    editJson(path.join(s.exp, 'experiment.json'), (j) => {
      (j.cells as string[]).push(path.relative(s.exp, escape));
    });
    fs.mkdirSync(escape);
    fs.cpSync(path.join(s.exp, s.cells[0]), escape, { recursive: true }); // a cell the id would reach
    const before = walk(s.root);
    const msg = await buildError(s.runs, s.out);
    expect(msg).toMatch(
      /runs\/hostile\/experiment\.json: field "cells\[8\]": expected a cell id \(12 lower-case hex characters\) \(got "\.\.\/\.\.\/escaped"\)$/,
    );
    expect(walk(s.root)).toEqual(before);

    // the CLI: the same line, exit code 2 (input error)
    const r = spawnSync(TSX, [REPORT_CLI, 'build', '--experiment', 'hostile', '--no-png'], {
      cwd: s.root,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`error: ${msg.replace(s.root + path.sep, '')}`]);
    expect(fs.existsSync(path.join(s.root, 'reports'))).toBe(false);
  });

  it('refuses an experiment name or a config cellId outside the trainer rules', async () => {
    const a = store();
    editJson(path.join(a.exp, 'experiment.json'), (j) => (j.name = '../../evil'));
    expect(await buildError(a.runs, a.out)).toMatch(
      /experiment\.json: field "name": expected an experiment name/,
    );

    const b = store();
    editJson(path.join(b.exp, b.cells[0], 'config.json'), (j) => (j.cellId = '../../../x'));
    expect(await buildError(b.runs, b.out)).toMatch(
      new RegExp(`${b.cells[0]}/config\\.json: field "cellId": expected a cell id`),
    );
  });

  it('ignores unlisted folders whose names are not cell ids', async () => {
    const s = store();
    fs.cpSync(path.join(s.exp, s.cells[0]), path.join(s.exp, 'not-a-cell'), { recursive: true });
    const r = await build(s.runs, s.out, { dashboard: false });
    expect(walk(s.out).some((f) => f.includes('not-a-cell'))).toBe(false);
    expect(fs.readFileSync(path.join(s.out, 'report.md'), 'utf8')).toContain('8 cells, 8 finished');
    expect(r.warnings).toEqual([]);
  });

  it('confines every output path: ../ names, and links already in --out are not followed', async () => {
    const s = store();
    expect(() => writeInside(s.out, '../escaped.html', 'x')).toThrow(
      /refusing to write outside the output folder/,
    );
    expect(fs.existsSync(path.join(s.root, 'escaped.html'))).toBe(false);

    // a link at a file the report writes is replaced, the file it pointed to stays as it was
    const victim = path.join(s.root, 'victim.txt');
    fs.writeFileSync(victim, 'keep');
    fs.mkdirSync(s.out);
    fs.symlinkSync(victim, path.join(s.out, 'ablation.csv'));
    await build(s.runs, s.out, { dashboard: false });
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep');
    expect(fs.lstatSync(path.join(s.out, 'ablation.csv')).isFile()).toBe(true);

    // a link at a folder the report writes into is refused with one line, before any file is written
    const elsewhere = path.join(s.root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(s.out, 'dashboard'));
    const fresh = path.join(s.root, 'fresh-out');
    fs.mkdirSync(fresh);
    fs.symlinkSync(elsewhere, path.join(fresh, 'dashboard'));
    expect(await buildError(s.runs, s.out)).toMatch(
      /dashboard: refusing to write through a symbolic link that leaves the output folder/,
    );
    expect(await buildError(s.runs, fresh)).toMatch(
      /fresh-out\/dashboard: refusing to write through a symbolic link that leaves the output folder/,
    );
    expect(fs.readdirSync(fresh)).toEqual(['dashboard']); // nothing written: no half report
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });
});

describe('symbolic links in the store', () => {
  it('copies and inlines only regular files inside the cell folder (retrieval images)', async () => {
    const s = store();
    const secretDir = path.join(s.root, 'outside');
    fs.mkdirSync(secretDir);
    const secret = 'TOPSECRET-0f3c9a';
    fs.writeFileSync(path.join(secretDir, 'shadow.png'), secret);
    for (const c of s.cells) {
      const cell = path.join(s.exp, c);
      fs.rmSync(path.join(cell, 'retrieval', 'q0.png'));
      fs.symlinkSync(path.join(secretDir, 'shadow.png'), path.join(cell, 'retrieval', 'q0.png'));
      fs.symlinkSync(secretDir, path.join(cell, 'retrieval', 'linked'));
      editJson(path.join(cell, 'retrieval.json'), (j) => {
        const q = (j.queries as { image: string; results: { image: string }[] }[])[1];
        q.image = 'retrieval/linked/shadow.png';
        q.results[0].image = path.relative(cell, path.join(secretDir, 'shadow.png'));
        q.results[1].image = path.join(secretDir, 'shadow.png');
      });
    }
    await build(s.runs, s.out);
    const files = walk(s.out);
    const leaked = files.filter((f) => {
      const buf = fs.readFileSync(f);
      return buf.includes(secret) || buf.includes(Buffer.from(secret).toString('base64'));
    });
    expect(leaked).toEqual([]);
    const copied = files.filter((f) => f.includes(`${path.sep}r${path.sep}`) && f.endsWith('.png'));
    expect(copied.some((f) => f.endsWith(`${path.sep}retrieval${path.sep}q2.png`))).toBe(true); // regular files still copied
    expect(copied.some((f) => /q0\.png$|shadow\.png$/.test(f))).toBe(false);
  });

  it('refuses store files and cell folders that are symbolic links, with one line', async () => {
    const a = store();
    const outsideJson = path.join(a.root, 'outside.json');
    fs.writeFileSync(outsideJson, '{"mAP@all": 0.99}');
    fs.rmSync(path.join(a.exp, a.cells[0], 'eval.json'));
    fs.symlinkSync(outsideJson, path.join(a.exp, a.cells[0], 'eval.json'));
    expect(await buildError(a.runs, a.out)).toMatch(
      new RegExp(`${a.cells[0]}/eval\\.json: not a regular file \\(symbolic links and devices are not read`),
    );

    const b = store();
    const moved = path.join(b.root, 'moved-cell');
    fs.renameSync(path.join(b.exp, b.cells[0]), moved);
    fs.symlinkSync(moved, path.join(b.exp, b.cells[0]));
    expect(await buildError(b.runs, b.out)).toMatch(
      new RegExp(`${b.cells[0]}: a symbolic link or not a folder`),
    );
  });
});

/** Fields of one CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  const re = /("(?:[^"]|"")*"|[^,]*)(,|$)/g;
  for (let m = re.exec(line); m && m.index < line.length; m = re.exec(line)) {
    out.push(m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
    if (!m[2]) break;
  }
  return out;
}

describe('CSV formula injection', () => {
  it('neutralises fields that start with = + - @ tab or CR, and leaves numbers numbers', () => {
    expect(csvField(FORMULA)).toBe(`"'=cmd|' /C calc'!A0"`);
    expect(csvField('-2+3')).toBe(`"'-2+3"`);
    expect(csvField('+cmd')).toBe(`"'+cmd"`);
    expect(csvField('@SUM(A1:A9)')).toBe(`"'@SUM(A1:A9)"`);
    expect(csvField('\t=1')).toBe(`"'\t=1"`);
    expect(csvField('\r=1')).toBe(`"'\r=1"`);
    expect(csvField('a "quoted", field')).toBe('"a ""quoted"", field"');
    for (const n of [-1.5, '-1.5', '-1e-3', '+2', '-Infinity', '-0.1;0.25;-3', 0, 'softmax'])
      expect(csvField(n)).toBe(String(n));
  });

  it('ablation.csv: the formula axis value is text, negative deltas stay numbers', async () => {
    const s = store();
    await build(s.runs, s.out, { dashboard: false });
    const lines = fs.readFileSync(path.join(s.out, 'ablation.csv'), 'utf8').trim().split('\n');
    const header = csvFields(lines[0]);
    const rows = lines.slice(1).map((l) => Object.fromEntries(csvFields(l).map((v, i) => [header[i], v])));
    expect(rows.length).toBeGreaterThan(0);
    const formulaRows = rows.filter((r) => r.loss === `'${FORMULA}`);
    expect(formulaRows.length).toBe(rows.length / 2);
    expect(lines.some((l) => l.includes(`,${FORMULA}`) || l.startsWith(FORMULA))).toBe(false);
    expect(rows.every((r) => !/^[=+\-@\t\r]/.test(r.block) && !/^[=+\-@\t\r]/.test(r.dataset))).toBe(true);
    const deltas = rows.map((r) => r.delta).filter((d) => d !== '');
    expect(deltas.some((d) => Number(d) < 0)).toBe(true);
    for (const d of deltas) expect(Number.isFinite(Number(d))).toBe(true); // no quote, no prefix
  });
});

describe('HTML and Markdown from store strings', () => {
  const ALLOWED_TAGS = new Set('h1 h2 h3 p code table thead tbody tr th td strong ul li a img br'.split(' '));
  /** A renderer as permissive as they come: raw HTML on, every link scheme allowed. */
  const md = new MarkdownIt({ html: true });
  md.validateLink = () => true;

  let out: string;
  beforeAll(async () => {
    const s = store();
    out = s.out;
    await build(s.runs, s.out);
  });

  it('report.md and ablation.md render to text only: no tag, link or heading from the store', () => {
    for (const f of ['report.md', 'ablation.md']) {
      const text = fs.readFileSync(path.join(out, f), 'utf8');
      // Escaping is now a backslash before the one character that would start markup (`\<script`, `\]`
      // before `(`) instead of HTML entities, so the payload reads as text in the source too. A `<` or
      // `]` after an odd run of backslashes is literal in CommonMark; the rendering below proves it.
      expect(text).not.toMatch(/(?<!\\)<(script|svg|a |img)|(?<!\\)\]\(javascript:/i);
      expect(htmlEntitiesOutsideCode(text)).toEqual([]);
      expect(injectedHtml(text)).toEqual([]);
      const rendered = md.render(text);
      // every element is one the package writes; links and images point at the report's own files
      for (const [tag, name, attrs] of rendered.matchAll(/<(\w+)([^>]*)>/g)) {
        expect({ tag, ok: ALLOWED_TAGS.has(name) && !/\son\w+=/i.test(attrs) }).toEqual({ tag, ok: true });
        const url = /(?:href|src)="([^"]*)"/.exec(attrs)?.[1];
        if (url !== undefined) expect(url).toMatch(/^[\w./-]+$/); // relative, no scheme
      }
      expect(rendered).not.toMatch(/<h1>heading injection|<li>list injection/);
    }
    const report = md.render(fs.readFileSync(path.join(out, 'report.md'), 'utf8'));
    // the payloads are still there, as visible text
    expect(report).toContain('&lt;script&gt;alert(&quot;md&quot;)&lt;/script&gt;');
    expect(report).toContain('[click](javascript:alert(4))');
    expect(report).toContain('# heading injection');
    expect(report).toMatch(
      /<h3>Training curves on emoji &lt;a href=&quot;javascript:alert\(2\)&quot;&gt;x&lt;\/a&gt;/,
    );
  });

  it('LaTeX: store strings cannot run a command or end a paragraph', () => {
    const tex = fs.readFileSync(path.join(out, 'ablation.tex'), 'utf8');
    expect(tex).toContain('\\textbackslash{}input\\{/etc/passwd\\}');
    expect(tex).not.toContain('\\input{');
    expect(tex).not.toMatch(/\n\s*\n(?!$)/); // no blank line inside the table
    expect(texEscape('a\n\nb & $x$')).toBe('a  b \\& \\$x\\$');
  });

  const pdflatex = ['/usr/bin/pdflatex', '/usr/local/bin/pdflatex'].find((p) => fs.existsSync(p));
  (pdflatex ? it : it.skip)('LaTeX with the payloads compiles (skipped without pdflatex)', () => {
    const dir = tmpDir();
    fs.copyFileSync(path.join(out, 'ablation.tex'), path.join(dir, 'a.tex'));
    fs.writeFileSync(
      path.join(dir, 'doc.tex'),
      '\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}\\usepackage[margin=1cm,landscape]{geometry}\\begin{document}\\input{a.tex}\\end{document}\n',
    );
    const r = spawnSync(
      pdflatex as string,
      ['-interaction=nonstopmode', '-halt-on-error', '-no-shell-escape', 'doc.tex'],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('root:x:0:0');
  });

  it('the HTML table and every dashboard page escape the payloads', () => {
    const pages = walk(out).filter((f) => /\.(html|svg)$/.test(f));
    expect(pages.length).toBeGreaterThan(10);
    for (const f of pages) {
      const text = fs.readFileSync(f, 'utf8');
      for (const bad of ['<script>alert(', '<svg onload', '<a href="javascript:'])
        expect({ f, hit: text.includes(bad) }).toEqual({ f, hit: false });
    }
    const index = fs.readFileSync(path.join(out, 'dashboard', 'e', 'hostile', 'index.html'), 'utf8');
    expect(index).toContain('&lt;script&gt;alert(&quot;md&quot;)&lt;/script&gt;');
  });
});

describe('truncated and corrupted store files', () => {
  const cases: [string, string, (cell: string, exp: string) => void, RegExp][] = [
    [
      'a truncated status.json',
      'status.json',
      (c) => fs.writeFileSync(path.join(c, 'status.json'), '{"state": "fini'),
      /status\.json: invalid JSON/,
    ],
    [
      'binary garbage in eval.json',
      'eval.json',
      (c) => fs.writeFileSync(path.join(c, 'eval.json'), Buffer.from([0, 159, 146, 150, 0xff, 0x7b])),
      /eval\.json: invalid JSON/,
    ],
    [
      'a truncated embeddings.json',
      'embeddings.json',
      (c) => fs.truncateSync(path.join(c, 'embeddings.json'), 200),
      /embeddings\.json: invalid JSON/,
    ],
    [
      'a garbage line inside metrics.jsonl',
      'metrics.jsonl',
      (c) => {
        const lines = fs.readFileSync(path.join(c, 'metrics.jsonl'), 'utf8').split('\n');
        lines.splice(3, 0, '\u0000\u0001garbage{');
        fs.writeFileSync(path.join(c, 'metrics.jsonl'), lines.join('\n'));
      },
      /metrics\.jsonl: line 4 is not valid JSON/,
    ],
    [
      'a truncated experiment.json',
      'experiment.json',
      (_c, e) => fs.truncateSync(path.join(e, 'experiment.json'), 40),
      /experiment\.json: invalid JSON/,
    ],
  ];
  it.each(cases)('%s fails with one line naming the file', async (_name, _file, corrupt, expected) => {
    const s = store();
    corrupt(path.join(s.exp, s.cells[0]), s.exp);
    expect(await buildError(s.runs, s.out)).toMatch(expected);
  });

  it('a metrics.jsonl line cut by a crash at the end is skipped', async () => {
    const s = store();
    fs.appendFileSync(path.join(s.exp, s.cells[0], 'metrics.jsonl'), '{"kind":"step","step":2');
    await expect(build(s.runs, s.out, { dashboard: false })).resolves.toBeDefined();
  });
});

/** GET with a chosen Host header (fetch cannot set one). */
function get(
  port: number,
  urlPath: string,
  host = `127.0.0.1:${port}`,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A raw HTTP/1.0 request without any Host header. */
function getWithoutHost(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () =>
      sock.write('GET /dashboard/index.html HTTP/1.0\r\n\r\n'),
    );
    let buf = '';
    sock.on('data', (d) => (buf += d.toString()));
    sock.on('end', () => resolve(buf.split('\r\n')[0]));
    sock.on('error', reject);
  });
}

describe('report:serve on a folder with links', () => {
  it('serves only files whose real path is inside the root, and only to loopback Host headers', async () => {
    const root = tmpDir('sbir-serve-');
    const served = path.join(root, 'served');
    fs.mkdirSync(path.join(served, 'dashboard'), { recursive: true });
    fs.writeFileSync(path.join(served, 'dashboard', 'index.html'), '<p>dashboard</p>');
    fs.writeFileSync(path.join(root, 'secret.txt'), 'TOPSECRET');
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(served, 'dashboard', 'passwd'));
    fs.symlinkSync('/etc', path.join(served, 'dashboard', 'etc'));
    fs.symlinkSync(
      path.join(served, 'dashboard', 'index.html'),
      path.join(served, 'dashboard', 'inside.html'),
    );
    const h = await serveStatic(served, { port: 0 });
    try {
      expect((await get(h.port, '/dashboard/index.html')).status).toBe(200);
      expect((await get(h.port, '/dashboard/inside.html')).body).toBe('<p>dashboard</p>'); // a link inside is fine
      for (const p of ['/dashboard/passwd', '/dashboard/etc/passwd', '/dashboard/etc/', '/..%2fsecret.txt'])
        expect({ p, ...(await get(h.port, p)) }).toEqual({ p, status: 403, body: 'forbidden' });
      for (const host of [`localhost:${h.port}`, `[::1]:${h.port}`, `LOCALHOST:${h.port}`])
        expect((await get(h.port, '/dashboard/index.html', host)).status).toBe(200);
      for (const host of [
        `evil.example:${h.port}`,
        'evil.example',
        `127.0.0.1:${h.port + 1}`,
        '127.0.0.1',
        `localhost.evil.example:${h.port}`,
      ])
        expect({ host, status: (await get(h.port, '/dashboard/index.html', host)).status }).toEqual({
          host,
          status: 421,
        });
      expect(await getWithoutHost(h.port)).toMatch(/^HTTP\/1\.[01] 421/);
    } finally {
      await h.close();
    }
  });

  it('a port in use is one line naming --port (exit code 2 from the CLI)', async () => {
    const root = tmpDir('sbir-serve-');
    fs.mkdirSync(path.join(root, 'dashboard'));
    const busy = await serveStatic(root, { port: 0 });
    try {
      await expect(serveStatic(root, { port: busy.port })).rejects.toThrow(
        new ReportInputError(
          `--port ${busy.port}: 127.0.0.1:${busy.port} is already in use (pick another --port, or 0 for any free port)`,
          '--port',
        ),
      );
      const r = spawnSync(
        TSX,
        [REPORT_CLI, 'serve', '--no-build', '--out', root, '--port', String(busy.port)],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `error: --port ${busy.port}: 127.0.0.1:${busy.port} is already in use (pick another --port, or 0 for any free port)`,
      ]);
    } finally {
      await busy.close();
    }
  });
});

describe('the trainer:ablation Nx target is a program, not a shell string', () => {
  it('passes hostile arguments through unchanged: nothing runs, --dry-run builds no report', () => {
    const dir = tmpDir('sbir-target-');
    const marker = path.join(dir, 'INJECTED');
    const runsDir = path.join(dir, `r'$(touch ${marker})'\`touch ${marker}\``);
    const r = spawnSync(
      path.join(ROOT, 'node_modules', '.bin', 'nx'),
      ['run', 'trainer:ablation', '--', '--runs-dir', runsDir, '--dry-run', '--only', 'block=se'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 110_000,
        env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
      },
    );
    expect({ status: r.status, err: r.stderr.slice(-500) }).toEqual({ status: 0, err: r.stderr.slice(-500) });
    expect(fs.existsSync(marker)).toBe(false);
    expect(r.stdout).toContain(`runs dir ${path.join(runsDir, 'demo')}`); // the literal folder name
    expect(r.stdout).not.toMatch(/runs directory not found|\[report\]/); // --dry-run stops before the report
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('the program executor (also report:generate, report:serve, trainer:sync) hands argv over without a shell', async () => {
    const dir = tmpDir('sbir-target-');
    const marker = path.join(dir, 'INJECTED');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(ROOT, 'tools', 'nx-program', 'executor.js')) as (
      o: { entry: string; args?: string[]; __unparsed__?: string[] },
      c: { root: string },
    ) => Promise<{ success: boolean }>;
    const res = await program(
      {
        entry: 'packages/report/src/cli.ts',
        args: ['build'],
        __unparsed__: [
          '--runs-dir',
          path.join(dir, `$(touch ${marker})`),
          '--experiment',
          `x;touch ${marker}`,
        ],
      },
      { root: ROOT },
    );
    expect(res.success).toBe(false); // the runs dir of that literal name does not exist
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("--help is the entry's own help (train, then report) and exits 0", () => {
    const r = spawnSync(TSX, [path.join(ROOT, 'tools', 'ablation', 'main.ts'), '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('then builds reports/<experiment>');
    expect(r.stdout).toContain('--no-report');
  });
});
