/** dashboard/e/<exp>/r/<cell>.html: one run (status, metrics, its charts, retrieval, config, lineage, files). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHARTS } from '../charts/registry';
import { quickTitle } from '../charts/specs';
import { resolveCellFile } from '../retrieval';
import { readRetrieval, type CellRecord } from '../store/read';
import type { Retrieval } from '../store/schema';
import { html, type SafeHtml } from '../util/html';
import { copyInside } from '../util/paths';
import type { ExperimentModel } from '../view/report-model';
import {
  chartPanels,
  duration,
  fmtDuration,
  mlflowRunUrl,
  page,
  progressText,
  slurmText,
  stateBadge,
  type DashboardOptions,
} from './page';

/** The run page's chart panels: full-width ones first, then the two-column grid. */
const RUN_WIDE = CHARTS.filter((r) => r.run && r.runPanel === 'wide');
const RUN_HALF = CHARTS.filter((r) => r.run && r.runPanel !== 'wide');

function copyRetrievalImages(
  c: CellRecord,
  destDir: string,
): (rel: string | null | undefined) => string | undefined {
  const done = new Map<string, string>();
  return (rel) => {
    const src = resolveCellFile(c.dir, rel); // regular files inside the cell folder only
    if (!src) return undefined;
    const hit = done.get(src);
    if (hit) return hit;
    const relPath = path.relative(c.dir, src).split(path.sep).join('/');
    copyInside(destDir, src, path.join(c.cellId, relPath));
    const url = `${c.cellId}/${relPath.split('/').map(encodeURIComponent).join('/')}`;
    done.set(src, url);
    return url;
  };
}

function retrievalHtml(c: CellRecord, r: Retrieval, destDir: string, maxQueries = 8): SafeHtml {
  const img = copyRetrievalImages(c, destDir);
  const k = Math.min(10, r.k ?? 10);
  const rows = r.queries.slice(0, maxQueries).map((q) => {
    const qs = img(q.image);
    const hits = q.results.slice(0, k);
    const nOk = hits.filter((h) => h.correct).length;
    return html`<div class="rq">
  <figure class="thumb query">${qs ? html`<img src="${qs}" alt="query sketch ${q.category}">` : html`<div class="ph"></div>`}<figcaption>${q.category}<span class="muted"> · ${nOk}/${hits.length}</span></figcaption></figure>
  <div class="results">${hits.map((h, i) => {
    const s = img(h.image);
    return html`<figure class="thumb ${h.correct ? 'ok' : 'wrong'}" title="#${i + 1} ${h.category}${typeof h.distance === 'number' ? ` · distance ${h.distance.toFixed(4)}` : ''}${h.correct ? '' : ' · wrong category'}">${s ? html`<img src="${s}" alt="${h.category}">` : html`<div class="ph"></div>`}${h.correct ? '' : html`<span class="x">✗</span>`}<figcaption>${h.category}</figcaption></figure>`;
  })}</div>
</div>`;
  });
  return html`<div class="retrieval">${rows}</div>`;
}

function metricCard(label: string, value: number | null | undefined, digits = 3, hint?: string): SafeHtml {
  return html`<div class="stat"><span class="v">${value === null || value === undefined ? '—' : value.toFixed(digits)}</span><span class="k">${label}</span>${hint ? html`<span class="hint">${hint}</span>` : ''}</div>`;
}

/** ", n = 200 / 1500" for an epoch line that says how many queries / gallery rows it used. */
function subsetText(line: object): string {
  const m = line as { nQueries?: unknown; nGallery?: unknown };
  return typeof m.nQueries === 'number' && typeof m.nGallery === 'number'
    ? `, n = ${m.nQueries} / ${m.nGallery}`
    : '';
}

/** lineage.json as label -> text (short forms), for the run page and the compare view. */
export function lineageRows(c: CellRecord): [string, string][] {
  const l = c.lineage;
  if (!l) return [];
  const d = l.dataset;
  const rows: [string, string | null | undefined][] = [
    [
      'git commit',
      l.git?.commit ? `${l.git.commit.slice(0, 12)}${l.git.dirty ? ' (dirty tree)' : ''}` : undefined,
    ],
    [
      'dataset',
      d
        ? [d.name, d.split, d.size ? `${d.size}px` : '', d.rows ? `${d.rows} rows` : '']
            .filter(Boolean)
            .join(' · ')
        : undefined,
    ],
    ['dataset digest', d?.digest ? d.digest.slice(0, 23) : undefined],
    [
      'backend',
      l.backend?.name
        ? `${l.backend.name}${l.backend.tfVersion ? ` (TensorFlow ${l.backend.tfVersion})` : ''}${l.backend.tfjsVersion ? `, tfjs ${l.backend.tfjsVersion}` : ''}`
        : undefined,
    ],
    [
      'host',
      l.host?.name
        ? `${l.host.name}${l.host.cpu ? ` · ${l.host.cpu}` : ''}${l.host.cores ? ` · ${l.host.cores} cores` : ''}`
        : undefined,
    ],
  ];
  return rows.filter((r): r is [string, string] => typeof r[1] === 'string' && r[1] !== '');
}

/** The cell's run-store files the run page links to (those present), relative to the page. */
export function cellFileLinks(c: CellRecord, pageDir: string): { label: string; href: string }[] {
  const rel = (p: string) => path.relative(pageDir, p).split(path.sep).map(encodeURIComponent).join('/');
  const out: { label: string; href: string }[] = [];
  for (const [label, name] of [
    ['eval.json', 'eval.json'],
    ['metrics.jsonl', 'metrics.jsonl'],
    ['config.json', 'config.json'],
    ['status.json', 'status.json'],
    ['lineage.json', 'lineage.json'],
    ['checkpoints/', 'checkpoints'],
  ] as const) {
    const file = path.join(c.dir, name);
    if (fs.existsSync(file)) out.push({ label, href: rel(file) + (name === 'checkpoints' ? '/' : '') });
  }
  // worker logs hold every cell a worker ran, each under a "== <time> cell <id>" line
  const logs = path.join(path.dirname(c.dir), '.logs');
  if (fs.existsSync(logs)) out.push({ label: 'worker logs', href: `${rel(logs)}/` });
  return out;
}

function filesPanel(c: CellRecord, pageDir: string): SafeHtml | string {
  const links = cellFileLinks(c, pageDir);
  if (!links.length) return '';
  return html`<section class="panel" id="files">
    <h2>Files</h2>
    <p class="muted small">
      The run store of this cell (open when the dashboard is read from the file system).
    </p>
    <div class="chips">
      ${links.map((l) => html`<a class="chip link" data-file="${l.label}" href="${l.href}">${l.label}</a>`)}
    </div>
  </section>`;
}

function lineagePanel(c: CellRecord): SafeHtml | string {
  const rows = lineageRows(c);
  if (!rows.length) return '';
  const earlier = c.lineage?.previous?.length ?? 0;
  return html`<section class="panel" id="lineage">
    <h2>Lineage</h2>
    <table class="kv">
      ${rows.map(
        ([k, val]) =>
          html`<tr>
            <th>${k}</th>
            <td data-lineage="${k}">${val}</td>
          </tr>`,
      )}
      ${
        c.lineage?.dataset?.digest
          ? html`<tr>
              <th>full digest</th>
              <td class="small"><code>${c.lineage.dataset.digest}</code></td>
            </tr>`
          : ''
      }
    </table>
    ${earlier ? html`<p class="small muted">${earlier} earlier attempt(s) ran on other code or another host (lineage.json "previous").</p>` : ''}
  </section>`;
}

export function runPage(v: ExperimentModel, c: CellRecord, opts: DashboardOptions, destDir: string): string {
  const o = v.obs.get(c.cellId);
  const label = o?.label ?? c.cellId;
  const specs = v.charts.run.get(c.cellId) ?? {};
  const ev = c.eval;
  const ml = mlflowRunUrl(opts.mlflowUi, c.status.mlflowRunId);
  const retrieval = c.hasRetrieval ? readRetrieval(c) : undefined;
  const st = c.status;
  const info: [string, string | number | null | undefined][] = [
    ['cell id', c.cellId],
    ['attempt', st.attempt],
    ['Slurm task', slurmText(c)],
    ['host', st.host],
    ['pid', st.pid],
    ['started', st.startedAt],
    ['finished', st.finishedAt],
    ['updated', st.updatedAt],
    [
      'step',
      st.step !== undefined && st.step !== null
        ? `${st.step}${st.totalSteps ? ` / ${st.totalSteps}` : ''}`
        : undefined,
    ],
    ['epoch', st.epoch],
    ['duration', fmtDuration(duration(c))],
    ['eval queries / gallery', ev?.nQueries ? `${ev.nQueries} / ${ev.nGallery ?? '?'}` : undefined],
  ];
  const prog = progressText(c);
  // without eval.json: the last epoch that was evaluated
  const latest = [...c.metrics].reverse().find((m) => m.kind === 'epoch' && typeof m['mAP@all'] === 'number');
  const body = html`<section class="hero">
      <div class="title-row">
        <h1>${label}</h1>
        ${stateBadge(st.state)}${ml ? html`<a class="button" href="${ml}" target="_blank" rel="noopener">Open in MLflow ↗</a>` : ''}
      </div>
      <p class="muted">
        ${v.exp.meta.name} · cell
        <code>${c.cellId}</code
        >${o ? html` · ${Object.entries(o.axes).map(([k, val]) => html`<span class="chip"><b>${k}</b> ${String(val)}</span>`)}` : ''}
      </p>
      ${
        st.state !== 'finished' && prog.text
          ? html`<div class="mini wide">
                <span style="width:${(100 * Math.min(1, prog.frac)).toFixed(1)}%"></span>
              </div>
              <p class="small muted">${prog.text}</p>`
          : ''
      }
      ${st.error ? html`<div class="alert"><b>Error:</b> <span class="err-text">${st.error}</span></div>` : ''}
      ${
        ev
          ? html`<div class="stats">
              ${metricCard('mAP@all', ev['mAP@all'])} ${metricCard('P@200', ev['P@200'])}
              ${metricCard('mAP@200', ev['mAP@200'])}
              ${metricCard(`Hamming mAP@all${ev.hamming?.bits ? ` (${ev.hamming.bits} bits)` : ''}`, ev.hamming?.['mAP@all'])}
              ${metricCard('classes separated', ev.distanceStats?.fractionSeparated, 2, 'max intra < min inter')}
            </div>`
          : latest
            ? html`<div class="stats">
                ${metricCard(quickTitle('mAP@all'), latest['mAP@all'], 3, `epoch ${latest.epoch}${subsetText(latest)}, not final`)}
                ${metricCard(quickTitle('P@200'), latest['P@200'], 3, `epoch ${latest.epoch}${subsetText(latest)}, not final`)}
              </div>`
            : ''
      }
    </section>
    ${chartPanels(RUN_WIDE, specs, '\n    ')}
    <div class="grid2">
      ${chartPanels(RUN_HALF, specs, '\n      ')}
    </div>
    ${
      retrieval && retrieval.queries.length
        ? html`<section class="panel">
            <div class="panel-head">
              <h2>Retrieval examples</h2>
              <span class="muted small"
                >query sketch, then its top-${Math.min(10, retrieval.k ?? 10)} photos; red ✗ = wrong
                category</span
              >
            </div>
            ${retrievalHtml(c, retrieval, destDir)}
          </section>`
        : ''
    }
    <div class="grid2">
      <section class="panel">
        <h2>Status</h2>
        <table class="kv">
          ${info
            .filter(([, val]) => val !== undefined && val !== null && val !== '')
            .map(
              ([k, val]) =>
                html`<tr>
                  <th>${k}</th>
                  <td>${String(val)}</td>
                </tr>`,
            )}
        </table>
      </section>
      <section class="panel">
        <h2>Config</h2>
        <pre class="config">${JSON.stringify(c.config ?? {}, null, 2)}</pre>
      </section>
    </div>
    ${lineagePanel(c)} ${filesPanel(c, destDir)}`;
  return page({
    title: label,
    root: '../../../',
    crumbs: [
      { label: 'Experiments', href: '../../../index.html' },
      { label: v.exp.meta.name, href: '../index.html' },
      { label },
    ],
    body,
    data: { page: 'run', experiment: v.exp.id, cell: c.cellId, specs },
    charts: Object.keys(specs).length > 0,
    mlflowUi: opts.mlflowUi,
  });
}
