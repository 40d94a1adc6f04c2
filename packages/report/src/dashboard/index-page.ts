/** dashboard/index.html: one card per experiment (progress, axes, best mAP@all). */
import { fmt } from '../table/format';
import { html } from '../util/html';
import type { ExperimentModel } from '../view/report-model';
import { countStates, expSlug, page, progressBar, type DashboardOptions } from './page';

export function indexPage(views: ExperimentModel[], opts: DashboardOptions): string {
  const cards = views.map((v) => {
    const counts = countStates(v.exp.cells);
    const col = v.table.columns.find((c) => !c.paperOnly && c.metric === 'mAP@all');
    const best = col ? v.table.rows.find((r) => r.cells[col.key].best) : undefined;
    const axes = Object.entries(v.exp.meta.axes ?? {}).map(
      ([k, vals]) => html`<span class="chip"><b>${k}</b> ${vals.map((x) => String(x)).join(', ')}</span>`,
    );
    return html`<a class="card exp-card" href="e/${expSlug(v.exp.id)}/index.html" data-experiment="${v.exp.id}">
  <div class="card-head"><h2>${v.exp.meta.name}</h2><span class="muted">${v.exp.cells.length} runs</span></div>
  ${v.exp.meta.description ? html`<p class="desc">${v.exp.meta.description}</p>` : ''}
  <div class="chips">${axes}</div>
  ${progressBar(counts, v.exp.cells.length)}
  ${best && col ? html`<p class="best">Best mAP@all on ${col.dataset}: <b>${fmt(best.cells[col.key].mean)}</b> (${best.label})</p>` : ''}
  <p class="muted small">updated ${v.exp.meta.updatedAt ? `${v.exp.meta.updatedAt.slice(0, 10)} ${v.exp.meta.updatedAt.slice(11, 16)} UTC` : 'unknown'}</p>
</a>`;
  });
  const body = html`<section class="hero"><h1>Experiments</h1><p class="muted">${views.length} experiment${views.length === 1 ? '' : 's'} in the run store. Pick one for its ablation table, runs and charts.</p></section>
<section class="cards">${cards}</section>`;
  return page({
    title: 'Experiments',
    root: '',
    crumbs: [{ label: 'Experiments' }],
    body,
    mlflowUi: opts.mlflowUi,
  });
}
