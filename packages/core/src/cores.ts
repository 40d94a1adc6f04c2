import * as os from 'node:os';

/** CPU cores this process may use (`os.availableParallelism`, which honours affinity, where it exists). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
