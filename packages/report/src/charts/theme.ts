/** One look for every chart: the `config` block each spec carries, and the categorical palettes. */
import type { Config } from 'vega-lite';

export const FONT = 'Inter, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif';

/** The no-block rows (grey), then each block in the palette's order of the experiment's block values. */
export const NO_BLOCK_COLOR = '#9ca3af';
export const BLOCK_PALETTE = ['#3b82f6', '#f97316', '#10b981', '#8b5cf6', '#e11d48'];

/**
 * The colour of a block label: grey for `none`, else the palette entry of its place among `order` (the
 * experiment's block labels in axis order, `none` aside), so colours follow the data, not block names:
 * SE and DASE in the paper's grid are the first two (blue, orange).
 */
export function blockColor(label: string, order: readonly string[]): string {
  if (label === 'none') return NO_BLOCK_COLOR;
  const blocks = order.filter((b) => b !== 'none');
  const i = blocks.includes(label) ? blocks.indexOf(label) : blocks.length;
  return BLOCK_PALETTE[i % BLOCK_PALETTE.length];
}
export const KIND_COLORS = { intra: '#2563eb', inter: '#f97316' };
export const CATEGORY_SCHEME = 'tableau20';

/** The categorical palette: ten colours, so a panel of up to ten series never reuses one. */
export const CATEGORY_COLORS = [
  '#2563eb',
  '#f97316',
  '#10b981',
  '#e11d48',
  '#8b5cf6',
  '#eab308',
  '#0891b2',
  '#6b7280',
  '#db2777',
  '#65a30d',
] as const;

export const chartConfig: Config = {
  background: 'white',
  font: FONT,
  padding: 12,
  view: { stroke: '#e5e7eb' },
  title: {
    fontSize: 14,
    fontWeight: 600,
    anchor: 'start',
    color: '#111827',
    subtitleColor: '#6b7280',
    subtitleFontSize: 11,
    offset: 10,
  },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 500,
    titleColor: '#374151',
    labelColor: '#4b5563',
    gridColor: '#f1f5f9',
    domainColor: '#9ca3af',
    tickColor: '#9ca3af',
  },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 600, symbolSize: 80 },
  header: { labelFontSize: 12, labelFontWeight: 600, titleFontSize: 12, labelColor: '#111827' },
  line: { strokeWidth: 2 },
  point: { size: 40 },
  range: { category: [...CATEGORY_COLORS] },
};
