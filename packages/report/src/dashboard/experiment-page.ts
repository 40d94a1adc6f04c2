/** dashboard/e/<exp>/index.html: ablation table, the experiment charts, runs table (sort, filter, select). */
import * as path from 'node:path';
import { CHARTS } from '../charts/registry';
import { toHtmlTable } from '../table/assemble';
import { fmt } from '../table/format';
import { displayAxis, displayValue } from '../table/normalize';
import { html, type SafeHtml } from '../util/html';
import type { ExperimentModel } from '../view/report-model';
import { flattenConfig } from './compare-page';
import {
  chartPanels,
  countStates,
  duration,
  fmtDuration,
  mlflowRunUrl,
  page,
  progressBar,
  progressText,
  shortTime,
  slurmText,
  stateBadge,
  type DashboardOptions,
} from './page';

function runsTable(v: ExperimentModel, opts: DashboardOptions): SafeHtml {
  const rowAxes = v.norm.rowAxes;
  const headers: { label: string; type: 'num' | 'text'; cls?: string }[] = [
    { label: 'Status', type: 'text' },
    { label: 'Run', type: 'text' },
    { label: 'Dataset', type: 'text' },
    ...rowAxes.map((a) => ({ label: displayAxis(a), type: 'text' as const })),
    { label: 'Seed', type: 'num' },
    { label: 'Progress', type: 'num' },
    { label: 'mAP@all', type: 'num' },
    { label: 'P@200', type: 'num' },
    { label: 'Time', type: 'num' },
    { label: 'Updated', type: 'text' },
  ];
  const rows = v.exp.cells.map((c) => {
    const o = v.obs.get(c.cellId);
    const label = o?.label ?? c.cellId;
    const prog = progressText(c);
    const ml = mlflowRunUrl(opts.mlflowUi, c.status.mlflowRunId);
    const m = (k: string) => o?.metrics[k];
    const search = [
      label,
      c.cellId,
      c.status.state,
      o?.dataset,
      ...Object.values(o?.rowAxes ?? {}),
      c.status.error ?? '',
      c.status.slurm?.jobId ?? '',
    ]
      .join(' ')
      .toLowerCase();
    const dur = duration(c);
    return html`<tr data-id="${c.cellId}" data-state="${c.status.state}" data-search="${search}">
      <td class="sel">
        <input type="checkbox" class="pick" value="${c.cellId}" aria-label="select ${label}" />
      </td>
      <td data-sort="${c.status.state}">${stateBadge(c.status.state)}</td>
      <td data-sort="${label}" class="run-name">
        <a href="r/${c.cellId}.html">${label}</a>
        <div class="id">
          ${c.cellId}${ml ? html` · <a href="${ml}" target="_blank" rel="noopener">MLflow ↗</a>` : ''}${slurmText(c) ? html` · <span class="slurm" title="Slurm job/task and state">${slurmText(c)}</span>` : ''}
        </div>
        ${c.status.error ? html`<div class="err" title="${c.status.error}">${c.status.error}</div>` : ''}
      </td>
      <td data-sort="${o?.dataset ?? ''}">${o?.dataset ?? ''}</td>
      ${rowAxes.map((a) => html`<td data-sort="${o?.rowAxes[a] ?? ''}">${o ? displayValue(a, o.rowAxes[a]) : ''}</td>`)}
      <td class="num" data-sort="${o?.seed ?? ''}">${o?.seed ?? ''}</td>
      <td class="num" data-sort="${prog.frac}">
        <div class="mini"><span style="width:${(100 * Math.min(1, prog.frac)).toFixed(1)}%"></span></div>
        <span class="small">${prog.text}</span>
      </td>
      <td class="num" data-sort="${m('mAP@all') ?? ''}">${fmt(m('mAP@all'))}</td>
      <td class="num" data-sort="${m('P@200') ?? ''}">${fmt(m('P@200'))}</td>
      <td class="num" data-sort="${dur ?? ''}">${fmtDuration(dur)}</td>
      <td data-sort="${c.status.updatedAt ?? ''}" class="small nowrap" title="${c.status.updatedAt ?? ''}">
        ${shortTime(c.status.updatedAt)}
      </td>
    </tr>`;
  });
  const states = [...new Set(v.exp.cells.map((c) => c.status.state))];
  return html`<div class="toolbar">
      <input
        type="search"
        id="filter"
        placeholder="Filter: words, or expressions such as train.lr<0.01 mAP@all>0.05…"
        aria-label="filter runs"
      />
      <select id="state-filter" aria-label="filter by state">
        <option value="">all states</option>
        ${states.map((s) => html`<option value="${s}">${s}</option>`)}
      </select>
      <span id="row-count" class="muted"></span>
      <span id="filter-error" class="err small"></span>
      <details id="column-chooser" class="column-chooser">
        <summary>Columns</summary>
        <div class="cols"></div>
      </details>
      <div class="spacer"></div>
      <a id="compare-link" class="button disabled" href="compare.html">Compare selected</a>
    </div>
    <div class="table-wrap">
      <table class="runs sortable" id="runs-table">
        <thead>
          <tr>
            <th class="sel"><input type="checkbox" id="pick-all" aria-label="select all visible" /></th>
            ${headers.map((h) => html`<th data-type="${h.type}" class="${h.type === 'num' ? 'num' : ''}" tabindex="0">${h.label}<span class="arrow"></span></th>`)}
          </tr>
        </thead>
        <tbody>
          ${rows}
        </tbody>
      </table>
    </div>`;
}

/** How many cells outside the current cell set were left out (or are shown, marked). */
function staleLine(v: ExperimentModel): SafeHtml | string {
  const n = v.exp.staleCount ?? 0;
  if (!n) return '';
  const shown = v.exp.cells.some((c) => c.stale);
  return html`<p class="stale-note muted" id="stale-note">
    ${
      shown
        ? `${n} stale cell(s) shown, marked “stale” (not in the current cell set of experiment.json).`
        : `${n} stale cell(s) left out (not in the current cell set of experiment.json: the yaml or the overrides changed since they ran); rebuild with --include-stale to show them.`
    }
  </p>`;
}

/**
 * Per cell, what the runs filter's expressions (`train.lr<0.01`, `mAP@all>0.05`) compare against: the
 * flattened config.json and the final metrics of eval.json.
 */
export function filterValues(v: ExperimentModel): Record<string, Record<string, string | number | null>> {
  const out: Record<string, Record<string, string | number | null>> = {};
  for (const c of v.exp.cells) {
    const values: Record<string, string | number | null> = {
      ...flattenConfig(c.config as Record<string, unknown>),
    };
    for (const [k, x] of Object.entries(values))
      if (typeof x === 'string' && x !== '' && Number.isFinite(Number(x))) values[k] = Number(x);
    values.state = c.status.state;
    values['mAP@all'] = c.eval?.['mAP@all'] ?? null;
    values['P@200'] = c.eval?.['P@200'] ?? null;
    values['mAP@200'] = c.eval?.['mAP@200'] ?? null;
    values['hamming.mAP@all'] = c.eval?.hamming?.['mAP@all'] ?? null;
    out[c.cellId] = values;
  }
  return out;
}

/** The links to the experiment's section pages (the sensitivity page, ...), in SECTIONS order. */
const sectionLinks = (v: ExperimentModel): (SafeHtml | string)[] =>
  v.sections.flatMap((s) => (s.page ? [s.page.nav] : []));

export function experimentPage(v: ExperimentModel, opts: DashboardOptions): string {
  const specs = v.charts.experiment;
  const counts = countStates(v.exp.cells);
  const reportDir = opts.reportDirs?.[v.exp.id];
  const rel = (f: string) =>
    reportDir !== undefined
      ? `../../${reportDir ? `${reportDir.split(path.sep).join('/')}/` : ''}${f}`
      : undefined;
  const downloads = ['ablation.md', 'ablation.tex', 'ablation.csv', 'ablation.html', 'report.md'].map(
    (f) => html`<a class="chip link" href="${rel(f) ?? f}">${f}</a>`,
  );
  const body = html`<section class="hero">
      <h1>${v.exp.meta.name}</h1>
      ${v.exp.meta.description ? html`<p class="desc">${v.exp.meta.description}</p>` : ''}
      <div class="stats">
        <div class="stat"><span class="v">${v.exp.cells.length}</span><span class="k">runs</span></div>
        <div class="stat ok">
          <span class="v">${counts.finished ?? 0}</span><span class="k">finished</span>
        </div>
        <div class="stat run">
          <span class="v">${counts.running ?? 0}</span><span class="k">running</span>
        </div>
        <div class="stat bad">
          <span class="v">${(counts.failed ?? 0) + (counts.interrupted ?? 0)}</span
          ><span class="k">failed / interrupted</span>
        </div>
        <div class="stat"><span class="v">${counts.queued ?? 0}</span><span class="k">queued</span></div>
      </div>
      ${progressBar(counts, v.exp.cells.length)} ${staleLine(v)}${sectionLinks(v)}
    </section>
    <section class="panel">
      <div class="panel-head">
        <h2>Ablation table</h2>
        ${reportDir !== undefined ? html`<div class="chips">${downloads}</div>` : ''}
      </div>
      <div class="table-wrap">${toHtmlTable(v.table)}</div>
    </section>
    ${chartPanels(
      CHARTS.filter((r) => r.experiment),
      specs,
      '\n    ',
    )}
    <section class="panel">
      <div class="panel-head">
        <h2>Runs</h2>
        <span class="muted small">click a header to sort · tick runs and press “Compare selected”</span>
      </div>
      ${runsTable(v, opts)}
    </section>`;
  return page({
    title: v.exp.meta.name,
    root: '../../',
    crumbs: [{ label: 'Experiments', href: '../../index.html' }, { label: v.exp.meta.name }],
    body,
    data: { page: 'experiment', experiment: v.exp.id, specs, values: filterValues(v) },
    charts: Object.keys(specs).length > 0,
    mlflowUi: opts.mlflowUi,
  });
}
