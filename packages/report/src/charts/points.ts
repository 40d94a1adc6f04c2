/** The plain rows each chart's data shaper (data.ts) returns and its spec builder (specs.ts) takes. */

export interface MapPoint {
  row: string;
  block: string;
  dataset: string;
  metric: string;
  seed: string;
  value: number;
}

export interface MapSummary {
  row: string;
  block: string;
  dataset: string;
  metric: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
  best: boolean;
}

export interface StepPoint {
  run: string;
  step: number;
  loss: number;
}

export interface SeriesPoint {
  run: string;
  /** 'learning rate' | 'images/s' */
  series: string;
  step: number;
  value: number;
}

export interface EpochPoint {
  run: string;
  epoch: number;
  metric: string;
  value: number;
}

export interface PrPoint {
  run: string;
  recall: number;
  precision: number;
}

export interface HistogramBin {
  run: string;
  kind: 'intra-class' | 'inter-class';
  x0: number;
  x1: number;
  /** fraction of that kind's pairs in the bin */
  fraction: number;
}

export interface PcaPoint {
  pc1: number;
  pc2: number;
  category: string;
  domain: string;
  id: string;
}
