import * as path from 'node:path';
import { childEntry } from '../src/entry';

test('from the sources a child entry is the .ts file under tsx', () => {
  const e = childEntry('/x/src', 'worker');
  expect(e).toEqual({ file: path.join('/x/src', 'worker.ts'), execArgv: ['--import', 'tsx'] });
});
