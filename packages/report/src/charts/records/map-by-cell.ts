/** Retrieval accuracy per table row: mean ± std over seeds with each seed as a dot. */
import { mapChartData, usualSettings } from '../data';
import type { ChartRecord } from '../record';
import { mapByCellSpec } from '../specs';

const and = (xs: string[]): string => xs.join(', ').replace(/, ([^,]*)$/, ' and $1');

export const mapByCell: ChartRecord = {
  id: 'map-by-cell',
  title: 'Retrieval accuracy by cell',
  slot: 'map',
  report: ({ table }) => {
    const m = mapChartData(table);
    if (!m.summary.length) return [];
    return [
      {
        name: 'map-by-cell',
        title: `${and(table.metrics)} by cell`,
        spec: mapByCellSpec(m.points, m.summary, {
          rows: m.rows,
          blocks: m.blocks,
          title: `${table.experimentName}: retrieval accuracy by cell`,
          note: usualSettings(table),
        }),
      },
    ];
  },
  experiment: ({ table }) => {
    const m = mapChartData(table);
    if (!m.summary.length) return undefined;
    return mapByCellSpec(m.points, m.summary, {
      rows: m.rows,
      blocks: m.blocks,
      title: mapByCell.title,
      width: 240,
      note: usualSettings(table),
    });
  },
};
