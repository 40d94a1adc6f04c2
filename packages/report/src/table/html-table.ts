/** The ablation table as HTML: a fragment for the dashboard and a standalone document. */
import { html, raw, type SafeHtml } from '../util/html';
import type { AblationTable } from './build';
import { cellText, deltaText, fmt, paperTableRef, paperText } from './format';
import { displayAxis, displayValue } from './normalize';
import { layout, pEq, statusText, tableNotes, type ColumnGroup } from './layout';

/** The table as an HTML fragment (class names styled by the dashboard's CSS and by toHtmlDocument). */
export function toHtmlTable(t: AblationTable): SafeHtml {
  const groups = layout(t);
  const datasets = [...new Set(groups.map((g) => g.col.dataset))];
  // Δ and p sit under the mean in the same cell, so two datasets fit a page width
  const width = (g: ColumnGroup) => Number(g.ours) + Number(g.paper);
  const top = datasets.map((d) => {
    const n = groups.filter((g) => g.col.dataset === d).reduce((s, g) => s + width(g), 0);
    return html`<th colspan="${n}" class="group">${d}</th>`;
  });
  const sub = groups.map(
    (g) =>
      html`${g.ours ? html`<th class="num">${g.col.metric}${g.delta ? html`<div class="sub">Δ vs baseline (p)</div>` : ''}</th>` : ''}${g.paper ? html`<th class="num paper">${g.col.metric}<div class="sub">paper</div></th>` : ''}`,
  );
  const body = t.rows.map((r) => {
    const cells = groups.map((g) => {
      const c = r.cells[g.col.key];
      const x = cellText(c);
      const d = deltaText(c.delta);
      const sig = c.delta?.p !== null && c.delta?.p !== undefined && c.delta.p < 0.05;
      const dir = (c.delta?.meanDiff ?? 0) >= 0 ? 'up' : 'down';
      const deltaLine = !g.delta
        ? ''
        : r.isBaseline
          ? html`<div class="delta muted">baseline</div>`
          : d.delta
            ? html`<div class="delta ${dir}${sig ? ' sig' : ''}">${d.delta} <span class="p">${pEq(d.p)}</span></div>`
            : html`<div class="delta muted">${d.p}</div>`;
      const oursCell = g.ours
        ? html`<td class="num${c.best ? ' best' : ''}" title="${c.seeds.map((s, i) => `seed ${s}: ${fmt(c.values[i], 4)}`).join('\n')}">${x.mean ? html`<span class="mean">${x.mean}</span>${x.std ? html`<span class="pm"> ± ${x.std}</span>` : ''}<sup class="n">n=${x.n}</sup>` : html`<span class="muted">—</span>`}${deltaLine}</td>`
        : '';
      const ref = paperTableRef(c.paper);
      const paperCell = g.paper
        ? html`<td class="num paper" title="${[ref, c.paper?.method, c.paper?.backbone, c.paper?.source].filter(Boolean).join(' · ')}">${paperText(c.paper)}${ref ? html`<sup class="ref">${ref.replace(/^Table\s*/i, 'T')}</sup>` : ''}</td>`
        : '';
      return html`${oursCell}${paperCell}`;
    });
    const axisCells = t.rowAxes.map(
      (a) => html`<th scope="row" class="axis">${displayValue(a, r.axes[a])}</th>`,
    );
    const c = r.counts;
    const status = html`<td class="runs" title="${statusText(r)}">${c.finished} ✓${c.failed ? html`<br><span class="bad">${c.failed} failed</span>` : ''}${c.running ? html`<br><span class="warn">${c.running} running</span>` : ''}${c.queued ? html`<br><span class="muted">${c.queued} queued</span>` : ''}</td>`;
    return html`<tr class="${r.isBaseline ? 'baseline' : ''}">${axisCells}${cells}${status}</tr>`;
  });
  return html`<table class="ablation">
<thead><tr>${t.rowAxes.map(() => html`<th></th>`)}${top}<th></th></tr>
<tr>${t.rowAxes.map((a) => html`<th class="axis">${displayAxis(a)}</th>`)}${sub}<th>Runs</th></tr></thead>
<tbody>${body.map((b) => html`\n${b}`)}
</tbody></table>
<ul class="table-notes">${tableNotes(t).map((l) => html`<li>${l}</li>`)}</ul>`;
}

export const TABLE_CSS = `
table.ablation{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13.5px;margin:8px 0}
table.ablation th,table.ablation td{padding:6px 9px;border-bottom:1px solid #e5e7eb;white-space:nowrap}
table.ablation thead th{border-bottom:2px solid #111827;font-weight:600;text-align:center;vertical-align:bottom}
table.ablation thead tr:first-child th{border-bottom:1px solid #9ca3af}
table.ablation thead th.group{font-size:13px;letter-spacing:.02em}
table.ablation th.axis{text-align:left;font-weight:500}
table.ablation td.num{text-align:right}
table.ablation tbody th,table.ablation tbody td{vertical-align:middle}
table.ablation td.best .mean{font-weight:700}
table.ablation td.best{background:#ecfdf5}
table.ablation .pm{color:#4b5563}
table.ablation sup{font-size:10px;color:#6b7280;margin-left:2px}
table.ablation .delta{font-size:12px;margin-top:1px}
table.ablation .delta.up{color:#047857}
table.ablation .delta.down{color:#b91c1c}
table.ablation .delta.sig{font-weight:600}
table.ablation th .sub{font-size:11px;font-weight:400;color:#6b7280}
table.ablation .p{font-size:11px;color:#6b7280;font-weight:400}
table.ablation td.paper{color:#1e3a8a;background:#f8fafc}
table.ablation tr.baseline th,table.ablation tr.baseline td{background:#f9fafb}
table.ablation tr.baseline td.best{background:#ecfdf5}
table.ablation tbody tr:last-child th,table.ablation tbody tr:last-child td{border-bottom:2px solid #111827}
table.ablation .muted{color:#9ca3af}
table.ablation .bad{color:#b91c1c}
table.ablation .warn{color:#b45309}
table.ablation td.runs{font-size:12px;color:#374151}
ul.table-notes{font-size:12px;color:#4b5563;margin:6px 0 0;padding-left:18px}
`;

export function toHtmlDocument(t: AblationTable): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ablation: ${t.experimentName}</title>
<style>body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;margin:32px;}h1{font-size:20px}${raw(TABLE_CSS)}</style>
</head><body>
<h1>Ablation: ${t.experimentName}</h1>
${toHtmlTable(t)}
</body></html>
`.value;
}

/** The reference results that match no row, as a Markdown list (other methods of the paper). */
