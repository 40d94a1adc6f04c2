/** dashboard/e/<exp>/compare.html#runs=…: metrics, config diff and charts of the selected runs. */
import { html } from '../util/html';
import type { ExperimentModel } from '../view/report-model';
import { page, type DashboardOptions } from './page';
import { lineageRows } from './run-page';

/** config.json keys that are bookkeeping, not settings (left out of the config diff). */
const NOT_SETTINGS = new Set(['formatVersion', 'experiment', 'cellId', 'axes', 'name']);

/** config.json as dotted leaf keys (`train.lr` -> 0.001); lists are shown as JSON. */
export function flattenConfig(config: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, key: string): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, key ? `${key}.${k}` : k);
    } else if (key === 'overrides' && Array.isArray(v)) out[key] = v.join(' ') || '(none)';
    else if (key) out[key] = typeof v === 'string' ? v : JSON.stringify(v);
  };
  for (const [k, v] of Object.entries(config ?? {})) if (!NOT_SETTINGS.has(k)) walk(v, k);
  return out;
}

export function comparePage(v: ExperimentModel, opts: DashboardOptions): string {
  const runs = v.exp.cells.map((c) => {
    const o = v.obs.get(c.cellId);
    return {
      id: c.cellId,
      label: o?.label ?? c.cellId,
      state: c.status.state,
      stale: Boolean(c.stale),
      axes: o?.axes ?? {},
      config: flattenConfig(c.config as Record<string, unknown> | undefined),
      lineage: Object.fromEntries(lineageRows(c)),
      metrics: {
        'mAP@all': c.eval?.['mAP@all'] ?? null,
        'P@200': c.eval?.['P@200'] ?? null,
        'mAP@200': c.eval?.['mAP@200'] ?? null,
        'Hamming mAP@all': c.eval?.hamming?.['mAP@all'] ?? null,
        'classes separated': c.eval?.distanceStats?.fractionSeparated ?? null,
        'train seconds': c.eval?.trainSeconds ?? null,
      },
    };
  });
  const specs = v.charts.compare;
  const body = html`<section class="hero">
      <h1>Compare runs</h1>
      <p class="muted">
        ${v.exp.meta.name}: pick runs below; the selection is kept in the address (<code>#runs=…</code>), so a
        comparison can be bookmarked.
      </p>
    </section>
    <section class="panel">
      <div class="panel-head">
        <h2>Selection</h2>
        <input type="search" id="compare-filter" placeholder="Filter…" aria-label="filter runs" />
      </div>
      <div id="compare-picker" class="picker"></div>
    </section>
    <section class="panel">
      <h2>Metrics</h2>
      <div class="table-wrap"><table class="compare" id="compare-table"></table></div>
    </section>
    <section class="panel">
      <div class="panel-head">
        <h2>Config diff</h2>
        <span class="muted small" id="config-diff-note"></span>
      </div>
      <div class="table-wrap"><table class="compare" id="config-diff"></table></div>
    </section>
    ${Object.keys(specs).map((k) => html`<section class="panel"><div class="chart" data-chart="${k}" data-filter-runs="1"></div></section>`)}`;
  return page({
    title: `Compare · ${v.exp.meta.name}`,
    root: '../../',
    crumbs: [
      { label: 'Experiments', href: '../../index.html' },
      { label: v.exp.meta.name, href: 'index.html' },
      { label: 'Compare' },
    ],
    body,
    data: { page: 'compare', experiment: v.exp.id, runs, specs },
    charts: Object.keys(specs).length > 0,
    mlflowUi: opts.mlflowUi,
  });
}
