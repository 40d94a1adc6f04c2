/** One look for every chart: the `config` block each spec carries, and the categorical palettes. */
import type { Config } from 'vega-lite';

export const FONT = 'Inter, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif';

export const BLOCK_COLORS: Record<string, string> = { none: '#9ca3af', SE: '#3b82f6', DASE: '#f97316' };
export const KIND_COLORS = { intra: '#2563eb', inter: '#f97316' };
export const CATEGORY_SCHEME = 'tableau20';

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
  range: {
    category: [
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
    ],
  },
};
