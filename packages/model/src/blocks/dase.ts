/**
 * `dase`: domain-aware squeeze-excite (the authors' `SEModule(domain_aware=True)`) in the units of the
 * domain-aware stages (default 1-3, as the authors' SE-ResNeXt), plain SE in the others (stage 4).
 * Same module, same hidden activation as `se`: the only difference is fc2's extra domain column.
 */
import { DEFAULT_SE_REDUCTION, SEModule, resolveHiddenActivation } from './se';
import { BlockEntry, BlockOptions } from './types';

export const DEFAULT_DOMAIN_AWARE_STAGES: readonly number[] = [1, 2, 3];

function domainAwareStages(opts: BlockOptions): number[] {
  return [...(opts.domainAwareStages ?? DEFAULT_DOMAIN_AWARE_STAGES)].sort((a, b) => a - b);
}

export const daseBlock: BlockEntry = {
  create: (channels, opts) =>
    new SEModule({
      ...opts,
      channels,
      // A block built outside a backbone (no stage) is domain-aware.
      domainAware: opts.stage === undefined || domainAwareStages(opts).includes(opts.stage),
    }),
  resolve: (opts) => ({
    seReduction: opts.reduction ?? DEFAULT_SE_REDUCTION,
    attnActivation: resolveHiddenActivation(opts.hiddenActivation),
    domainAwareStages: domainAwareStages(opts),
  }),
};
