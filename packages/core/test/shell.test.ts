import { execFileSync } from 'node:child_process';
import { shellWord } from '../src';

describe('shellWord', () => {
  test.each(['runs/demo', 'a_b,c=d:e@f%g+h.i-j', "it's $(touch x) `id` ; rm -rf /", 'two words', ''])(
    'a POSIX shell reads %j back as one unchanged word',
    (word) => {
      const quoted = shellWord(word);
      const echoed = execFileSync('/bin/sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' });
      expect(echoed).toBe(word);
    },
  );
});
