/**
 * `dase`: domain-aware squeeze-excite (the authors' `SEModule(domain_aware=True)`) in the units of the
 * domain-aware stages (default 1-3, as the authors' SE-ResNeXt), plain SE in the others (stage 4).
 * Same module, same hidden activation as `se`: the only difference is fc2's extra domain column.
 */
import { z } from 'zod';
import { SEModule, SeOptionsSchema } from './se';
import { BlockEntry } from './types';

/**
 * `se`'s options (the same fields, so one default each) plus the stages whose blocks see the domain;
 * in this order, which is config.json's (`listBlockOptions` keeps each block's order).
 */
export const DaseOptionsSchema = z
  .object({
    seReduction: SeOptionsSchema.shape.seReduction,
    /** 1-based stages whose blocks are domain-aware (the authors' SE-ResNeXt: [1, 2, 3]). */
    domainAwareStages: z.array(z.number().int().positive()).default([1, 2, 3]),
    attnActivation: SeOptionsSchema.shape.attnActivation,
  })
  .strict();
export type DaseOptions = z.output<typeof DaseOptionsSchema>;

export const DEFAULT_DOMAIN_AWARE_STAGES: readonly number[] = DaseOptionsSchema.parse({}).domainAwareStages;

const sortedStages = (o: DaseOptions): number[] => [...o.domainAwareStages].sort((a, b) => a - b);

export const daseBlock: BlockEntry<typeof DaseOptionsSchema> = {
  description: 'domain-aware squeeze-excite (DASE, Lu et al.): SE whose fc2 also sees the domain',
  options: DaseOptionsSchema,
  recordedForEveryBlock: true,
  create: (channels, ctx, options) =>
    new SEModule({
      ...ctx,
      seReduction: options.seReduction,
      attnActivation: options.attnActivation,
      channels,
      // A block built outside a backbone (no stage) is domain-aware.
      domainAware: ctx.stage === undefined || options.domainAwareStages.includes(ctx.stage),
    }),
  resolve: (o) => ({
    seReduction: o.seReduction,
    attnActivation: o.attnActivation,
    domainAwareStages: sortedStages(o),
  }),
  check: (options, backbone) => {
    const bad = options.domainAwareStages.find((s) => s > backbone.stages);
    return bad === undefined
      ? null
      : { path: ['domainAwareStages'], message: `stage ${bad} out of range 1..${backbone.stages}` };
  },
};
