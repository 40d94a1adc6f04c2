/**
 * @sbir/core: the helpers every package shares (atomic writes, paths, statistics, terminal
 * formatting, hashing, zod messages). No dependencies beyond node and zod; imports no other package.
 */
export {
  AtomicFile,
  activeTempFiles,
  atomicIo,
  copyFileAtomicSync,
  fsyncDir,
  fsyncDirSync,
  isTempName,
  removeActiveTempFilesSync,
  tempName,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomicSync,
  type AtomicWriteOptions,
  type WrapWriteError,
} from './atomic';
export { availableCores } from './cores';
export { formatDuration, formatTable, type Align } from './format';
export { fnv1a32 } from './hash';
export { shellWord } from './shell';
export { shuffleInPlace } from './shuffle';
export { displayPath, isDir } from './paths';
export {
  PYTHON_ENV_VAR,
  REPO_ROOT,
  ensureVenvPython,
  requireVenvPython,
  venvPython,
  venvTool,
} from './python';
export { mean, sampleStd } from './stats';
export {
  describeValue,
  fieldProblem,
  formatPath,
  issueSentence,
  quoteExcerpt,
  valueAt,
  type IssuePath,
} from './zod-issues';
