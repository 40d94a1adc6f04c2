/** Learning rate and images/s per logged step (dashboard only: a property of a run, not of the paper). */
import { cellLabel } from '../../view/experiment-view';
import { throughputPoints } from '../data';
import type { ChartRecord } from '../record';
import { throughputSpec } from '../specs';

export const throughput: ChartRecord = {
  id: 'throughput',
  title: 'Learning rate and throughput',
  slot: 'throughput',
  compare: (view) => {
    const points = view.exp.cells.flatMap((c) => throughputPoints(cellLabel(view, c), c.metrics, 150));
    return points.length ? throughputSpec(points, { width: 300 }) : undefined;
  },
  run: (_view, c, label) => {
    const points = throughputPoints(label, c.metrics);
    return points.length ? throughputSpec(points, { width: 360 }) : undefined;
  },
  runPanel: 'wide',
};
