/**
 * Report sections beyond the ablation table and the chart figures: each a record that computes its view
 * of an experiment (or nothing, when the experiment has no such section) and says how it appears: a part
 * of report.md with files beside it, and a dashboard page of its own linked from the experiment page.
 * The view model holds the computed sections; the report and the dashboard only render them.
 * Adding a section: a record here (its modules in a folder of their own) and one line in SECTIONS.
 */
import type { PageArgs } from '../dashboard/page';
import { SENSITIVITY_PAGE, sensitivityNav, sensitivityPage } from '../sensitivity/dashboard';
import { computeSensitivity } from '../sensitivity/compute';
import { sensitivitySection, type SectionFile } from '../sensitivity/section';
import { readClassNeighbours } from '../store/read';
import type { SafeHtml } from '../util/html';
import { computeZeroShot } from '../zeroshot/compute';
import { ZEROSHOT_PAGE, zeroShotNav, zeroShotPage } from '../zeroshot/dashboard';
import { zeroShotSection } from '../zeroshot/section';
import type { ExperimentView } from './experiment-view';

export interface SectionView {
  id: string;
  /** its part of report.md (placed before the figures) and the files it writes beside report.md */
  report: (opts: { png: boolean }) => Promise<{ files: SectionFile[]; markdown: string }>;
  /** its dashboard page, e/<exp>/<file>, and the link to it on the experiment page */
  page?: { file: string; nav: SafeHtml | string; args: (mlflowUi?: string) => PageArgs };
}

export interface SectionRecord {
  id: string;
  /** undefined: the experiment has no such section */
  build: (view: ExperimentView) => SectionView | undefined;
}

/** Issue 15: does each claim of the ablation hold across the settings experiment.json names. */
const sensitivity: SectionRecord = {
  id: 'sensitivity',
  build: (view) => {
    const s = computeSensitivity(view.exp);
    if (!s) return undefined;
    const experiment = { id: view.exp.id, name: view.exp.meta.name };
    return {
      id: 'sensitivity',
      report: (opts) => sensitivitySection(s, view.table.experimentName, opts),
      page: {
        file: SENSITIVITY_PAGE,
        nav: sensitivityNav(s),
        args: (mlflowUi) => sensitivityPage(experiment, s, mlflowUi),
      },
    };
  },
};

/** Issue 19: unseen-class metrics per protocol, claims, word-vector coverage and class neighbours. */
const zeroshot: SectionRecord = {
  id: 'zeroshot',
  build: (view) => {
    const z = computeZeroShot(view.exp, readClassNeighbours);
    if (!z) return undefined;
    const experiment = { id: view.exp.id, name: view.exp.meta.name, title: view.table.experimentName };
    return {
      id: 'zeroshot',
      report: async (opts) => zeroShotSection(z, view.table.experimentName, opts),
      page: {
        file: ZEROSHOT_PAGE,
        nav: zeroShotNav(),
        args: (mlflowUi) => zeroShotPage(experiment, z, mlflowUi),
      },
    };
  },
};

export const SECTIONS: readonly SectionRecord[] = [sensitivity, zeroshot];

export const composeSections = (view: ExperimentView): SectionView[] =>
  SECTIONS.flatMap((r) => r.build(view) ?? []);
