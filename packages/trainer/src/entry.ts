/**
 * Child-process entries next to the running code: from the sources (`src/*.ts` under tsx) the child
 * runs `<name>.ts` with `--import tsx`; from a build (`dist/*.js`) it runs `<name>.js` with plain node
 * and `--conditions=production`, under which every `@sbir/*` package resolves to its `dist/index.js`
 * (package.json "exports"), so a built trainer needs neither tsx nor the sources.
 */
import * as path from 'node:path';

export interface ChildEntry {
  /** absolute path of the entry file */
  file: string;
  /** node options the child needs to load it */
  execArgv: string[];
}

export function childEntry(dir: string, name: string): ChildEntry {
  const built = path.extname(__filename) === '.js';
  return built
    ? { file: path.join(dir, `${name}.js`), execArgv: ['--conditions=production'] }
    : { file: path.join(dir, `${name}.ts`), execArgv: ['--import', 'tsx'] };
}
