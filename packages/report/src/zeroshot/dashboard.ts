/**
 * The dashboard's zero-shot page (e/<exp>/zeroshot.html) and its link from the experiment page: the
 * tables with their claim sentences and per-class charts, the word-vector coverage, and the
 * class-neighbour picture. Builds the page's arguments; dashboard/site.ts wraps them in its template.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { PageArgs } from '../dashboard/page';
import { html, type SafeHtml } from '../util/html';
import {
  TABLE_NOTE,
  classesText,
  claimsNote,
  coverageLine,
  missingTokensText,
  neighbourCells,
  neighbourColumns,
  neighbourIntro,
  rowCells,
  tableColumns,
  unseenText,
} from './cells';
import type { ZeroShotView, ZsCoverage, ZsNeighbours, ZsTable } from './compute';
import { perClassData, perClassSpec } from './per-class';

export const ZEROSHOT_PAGE = 'zeroshot.html';

export const zeroShotNav = (): SafeHtml =>
  html`<p class="zeroshot-link"><a class="button" href="${ZEROSHOT_PAGE}">Zero-shot retrieval →</a></p>`;

function tablePanel(v: ZeroShotView, t: ZsTable, chart: boolean): SafeHtml {
  const labels = Math.max(1, v.rowAxes.length);
  const claims = v.claims.filter((c) => c.tableId === t.id);
  return html`<section class="panel" data-zeroshot-table="${t.id}">
      <div class="panel-head"><h2>${t.caption}</h2></div>
      <div class="table-wrap"><table class="ablation zeroshot">
        <thead><tr>${tableColumns(t, v.rowAxes).map((h) => html`<th>${h}</th>`)}</tr></thead>
        <tbody>${t.rows.map(
          (r) =>
            html`<tr>${rowCells(r, v.rowAxes).map((c, i) =>
              i < labels ? html`<td>${c}</td>` : html`<td class="num">${c}</td>`,
            )}</tr>`,
        )}</tbody>
      </table></div>
      <p class="muted small">${unseenText(t)}</p>
      ${claims.length ? html`<ul class="claims">${claims.map((c) => html`<li data-verdict="${c.verdict}">${c.sentence}</li>`)}</ul>` : ''}
      ${chart ? html`<div class="chart" data-chart="zeroshot-${t.id}"></div>` : ''}
    </section>`;
}

function coverageItem(c: ZsCoverage): SafeHtml {
  const details = (v: ZsCoverage['variants'][number]) =>
    html`<ul><li>classes with no vector: ${classesText(v.vectors.missingClasses)}</li><li>tokens with no vector: ${missingTokensText(v.vectors)}</li></ul>`;
  const without = c.without ? ` ${c.without} cell(s) record no class vectors.` : '';
  if (!c.variants.length) return html`<li><b>${c.dataset}</b>: no cell records class vectors.</li>`;
  if (c.variants.length === 1)
    return html`<li><b>${c.dataset}</b>: ${coverageLine(c.variants[0]!.vectors)} (shared by its ${c.variants[0]!.cells} cell(s)).${without}${details(c.variants[0]!)}</li>`;
  return html`<li><b>${c.dataset}</b>: <b>the cells disagree on the class vectors</b> (${c.variants.length} different records).${without}
      <ul>${c.variants.map((v) => html`<li>${v.cells} cell(s): ${coverageLine(v.vectors)}${details(v)}</li>`)}</ul></li>`;
}

function neighbourPanel(n: ZsNeighbours): SafeHtml {
  return html`<section class="panel" data-neighbours="${n.tableId}">
      <div class="panel-head"><h2>Class neighbours: ${n.dataset}, ${n.protocol}</h2></div>
      <p class="desc">${neighbourIntro(n)}</p>
      ${
        n.classes.length
          ? html`<div class="table-wrap"><table class="ablation neighbours">
        <thead><tr>${neighbourColumns(n.distance).map((h) => html`<th>${h}</th>`)}</tr></thead>
        <tbody>${n.classes.map((c) => html`<tr>${neighbourCells(c).map((x) => html`<td>${x}</td>`)}</tr>`)}</tbody>
      </table></div>`
          : ''
      }
    </section>`;
}

export function zeroShotPage(
  experiment: { id: string; name: string; title: string },
  v: ZeroShotView,
  mlflowUi?: string,
): PageArgs {
  const specs: Record<string, TopLevelSpec> = {};
  for (const t of v.tables) {
    const d = perClassData(t);
    if (d.points.length)
      specs[`zeroshot-${t.id}`] = perClassSpec(t, d, { title: `${d.metric} per unseen class` });
  }
  const body = html`<section class="hero">
      <h1>Zero-shot retrieval: ${experiment.title}</h1>
      <p class="desc">${TABLE_NOTE}</p>
      ${v.claims.length ? html`<p class="desc">${claimsNote()}</p>` : ''}
      ${v.notes.length ? html`<ul>${v.notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
    </section>
    ${v.tables.map((t) => tablePanel(v, t, `zeroshot-${t.id}` in specs))}
    <section class="panel" data-coverage>
      <div class="panel-head"><h2>Word vectors</h2></div>
      <ul>${v.coverage.map(coverageItem)}</ul>
    </section>
    ${v.neighbours.map(neighbourPanel)}`;
  return {
    title: `${experiment.title}: zero-shot`,
    root: '../../',
    crumbs: [
      { label: 'Experiments', href: '../../index.html' },
      { label: experiment.name, href: 'index.html' },
      { label: 'Zero-shot' },
    ],
    body,
    data: { page: 'zeroshot', experiment: experiment.id, specs },
    charts: Object.keys(specs).length > 0,
    mlflowUi,
  };
}
