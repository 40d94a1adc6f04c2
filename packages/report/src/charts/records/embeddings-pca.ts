/** PCA of a cell's embedding sample; the report shows the representative cells of each dataset. */
import { embeddingProjection, representativeCells } from '../../view/experiment-view';
import type { ChartRecord } from '../record';
import { pcaSpec } from '../specs';

export const embeddingsPca: ChartRecord = {
  id: 'pca',
  title: 'Embeddings, PCA projection',
  slot: 'pca',
  reportPerDataset: (view, dataset) =>
    representativeCells(view, dataset).flatMap((c) => {
      const p = view.projection(c);
      if (!p) return [];
      const label = view.obs.get(c.cellId)?.label ?? c.cellId;
      return [
        {
          name: `pca-${c.cellId}`,
          title: `Embeddings (PCA) of ${label}`,
          spec: pcaSpec(p.points, { title: `Embeddings of ${label}, PCA`, explained: p.explained }),
        },
      ];
    }),
  run: (view, c) => {
    const p = (view?.projection ?? embeddingProjection)(c);
    return p ? pcaSpec(p.points, { explained: p.explained }) : undefined;
  },
  runPanel: 'half',
};
