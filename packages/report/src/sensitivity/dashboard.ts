/**
 * The dashboard's sensitivity page (e/<exp>/sensitivity.html) and its link from the experiment page.
 * This module builds the page's arguments; dashboard/site.ts wraps them in its page template, so the
 * import points one way (site → sensitivity).
 */
import type { TopLevelSpec } from 'vega-lite';
import { html, type SafeHtml } from '../util/html';
import { distinctSettings, methodNote, type SensitivityView } from './compute';
import { claimNotes, settingCells, settingColumns } from './markdown';
import { forestSpec, sensitivitySpec } from './spec';

export const SENSITIVITY_PAGE = 'sensitivity.html';

/** The link on the experiment page; nothing for an experiment without a `sensitivity` block. */
export function sensitivityNav(v: SensitivityView | undefined): SafeHtml | string {
  return v
    ? html`<p class="sensitivity-link"><a class="button" href="${SENSITIVITY_PAGE}">Sensitivity of the claims →</a></p>`
    : '';
}

const NUMERIC = new Set([3, 4, 5, 6, 7]);

function settingsTable(v: SensitivityView, i: number): SafeHtml {
  const c = v.claims[i]!;
  return html`<div class="table-wrap"><table class="ablation sensitivity">
  <thead><tr>${settingColumns(v.metric).map((h) => html`<th>${h}</th>`)}</tr></thead>
  <tbody>${distinctSettings(c).map(
    (s) =>
      html`<tr data-verdict="${s.verdict}">${settingCells(s).map((t, k) =>
        NUMERIC.has(k) ? html`<td class="num">${t}</td>` : html`<td>${t}</td>`,
      )}</tr>`,
  )}</tbody>
</table></div>${
    claimNotes(c).length ? html`<ul class="notes">${claimNotes(c).map((n) => html`<li>${n}</li>`)}</ul>` : ''
  }`;
}

export interface SensitivityPageArgs {
  title: string;
  root: string;
  crumbs: { label: string; href?: string }[];
  body: SafeHtml;
  data: unknown;
  charts: boolean;
  mlflowUi?: string;
}

export function sensitivityPage(
  experiment: { id: string; name: string },
  v: SensitivityView,
  mlflowUi?: string,
): SensitivityPageArgs {
  const specs: Record<string, TopLevelSpec> = Object.fromEntries(
    v.claims.flatMap((c, i) => [
      [`forest-${i}`, forestSpec(c, v.metric)],
      [`sensitivity-${i}`, sensitivitySpec(c, v.factors, v.metric)],
    ]),
  );
  const body = html`<section class="hero">
      <h1>Sensitivity: ${experiment.name}</h1>
      <p class="desc">${methodNote(v.metric)}</p>
      ${v.notes.length ? html`<ul>${v.notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
    </section>
    ${v.claims.map(
      (c, i) => html`<section class="panel" data-claim="${c.label}">
      <div class="panel-head"><h2>${c.label}</h2></div>
      <p class="verdict">${c.sentence}</p>
      <div class="chart" data-chart="forest-${i}"></div>
      <div class="chart" data-chart="sensitivity-${i}"></div>
      ${settingsTable(v, i)}
    </section>`,
    )}`;
  return {
    title: `${experiment.name}: sensitivity`,
    root: '../../',
    crumbs: [
      { label: 'Experiments', href: '../../index.html' },
      { label: experiment.name, href: 'index.html' },
      { label: 'Sensitivity' },
    ],
    body,
    data: { page: 'sensitivity', experiment: experiment.id, specs },
    charts: v.claims.length > 0,
    mlflowUi,
  };
}
