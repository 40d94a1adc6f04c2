/**
 * @sbir/model's public surface: what other packages (the trainer, tools/, benches and tests that
 * import `@sbir/model`) use, plus the registries' `register*` functions, the way to add a block,
 * backbone or model kind from outside the package. Internals (ops, convolutions, layouts, readers)
 * stay behind it; model's own tests, benches and CLI import them by relative path (README "Public
 * surface").
 */

// backend
export { BACKEND_NAMES, currentBackend, gpuMayBePresent, initBackend, isNativeBackend } from './backend';
export type { BackendInfo, BackendName, InitBackendOptions } from './backend';
export { listNvidiaGpus, parseNvidiaSmi } from './gpu';
export type { NvidiaGpu, NvidiaSmiResult } from './gpu';

// registries: blocks, backbones, model kinds, losses (names, defaults, registration)
export {
  ATTN_ACTIVATIONS,
  getBlock,
  listBlockOptions,
  listBlocks,
  parseBlockOptions,
  registerBlock,
} from './blocks';
export type { AttentionModule, AttnActivation, AttnType, BlockContext, BlockEntry } from './blocks';
export { ParamStore } from './params';
export { BackboneOptionsSchema, getBackboneSpec, listBackbones, registerBackbone } from './backbones';
export type { BackboneSpec } from './backbones';
export { DEFAULT_MODEL_KIND, getModelKind, listModelKinds, registerModelKind } from './kinds';
export type { ModelKindEntry, RetrievalNet } from './kinds';
export { getLoss, listLosses, lossDefaults, registerLoss, resolveLossOptions } from './losses';
export type { LossConfig, LossEntry, LossName } from './losses';

// the network and its training loop
export { SbirNet } from './model';
export { Rng } from './rng';
export { createLearner } from './learner';
export type { Learner } from './learner';
export { STEP_MODES } from './graph/step';
export type { StepMode, StepStatus } from './graph/step';
export { OPTIMIZER_NAMES, SCHEDULE_NAMES } from './optim';
export type { OptimizerConfig, OptimizerName, ScheduleName } from './optim';
export {
  CHANNEL_ORDERS,
  NORMALIZATIONS,
  PIPELINE_NAMES,
  ROTATE_INTERPOLATIONS,
  pipelineDefaults,
  resolveInputPipeline,
} from './augment';
export type { ChannelOrder, InputPipelineConfig, PipelineName } from './augment';
export { PRETRAINED_INITS, missingPretrainedMessage } from './import/pretrained';

// evaluation
export {
  RETRIEVAL_DISTANCES,
  defaultRetrievalDistance,
  evaluateRetrieval,
  hammingRetrieval,
  normalizeRows,
} from './metrics';
export type { RetrievalDistance, RetrievalResult } from './metrics';
export { distanceStatistics } from './stats';
export { flipMeanFeatures, trainCentreHash } from './hashing';
