export {
  DEFAULT_MODEL_KIND,
  createModel,
  getModelKind,
  listModelKinds,
  registerModelKind,
  resolveModelKindOptions,
} from './registry';
export { SSGN_DECODERS, SSGN_TEST_SEMANTICS, SsgnOptionsSchema } from './ssgn';
export type { SsgnOptions, SsgnDecoder } from './ssgn';
export type {
  ClassVectors,
  ModelKindEntry,
  ModelKindEnv,
  ResolvedNetConfig,
  RetrievalNet,
  TrainForwardContext,
  TrainForwardOutput,
} from './types';
