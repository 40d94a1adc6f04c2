import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import {
  availableCores,
  displayPath,
  fieldProblem,
  fnv1a32,
  formatDuration,
  formatPath,
  formatTable,
  isDir,
  quoteExcerpt,
  issueSentence,
  mean,
  sampleStd,
  valueAt,
} from '../src';

test('statistics: sample mean and Bessel-corrected std; null where undefined', () => {
  expect(mean([])).toBeNull();
  expect(mean([1, 2, 3])).toBe(2);
  expect(sampleStd([1])).toBeNull();
  expect(sampleStd([1, 2, 3])).toBe(1);
});

test('terminal formatting', () => {
  expect(formatTable(['a', 'num'], [['xyz', '1']], ['left', 'right'])).toBe('a    num\n---  ---\nxyz    1');
  expect([formatDuration(42.4), formatDuration(187), formatDuration(3900), formatDuration(NaN)]).toEqual([
    '42s',
    '3m07s',
    '1h05m',
    '-',
  ]);
});

test('FNV-1a 32 bit: the published test vectors', () => {
  expect(fnv1a32('')).toBe(0x811c9dc5);
  expect(fnv1a32('a')).toBe(0xe40c292c);
  expect(fnv1a32('foobar')).toBe(0xbf9cf968);
});

test('paths and cores', () => {
  expect(displayPath(path.join(process.cwd(), 'a', 'b'))).toBe(path.join('a', 'b'));
  expect(displayPath('/elsewhere/x', '/work')).toBe('/elsewhere/x');
  expect(isDir(os.tmpdir())).toBe(true);
  expect(isDir(path.join(os.tmpdir(), 'no-such-folder-sbir'))).toBe(false);
  expect(availableCores()).toBeGreaterThanOrEqual(1);
});

test('zod issues name the field and the value found there', () => {
  expect(formatPath(['grid', 'loss', 1, 'margin'])).toBe('grid.loss[1].margin');
  expect(formatPath(['x'], true)).toBe('.x');
  expect(valueAt({ loss: 'mems' }, ['loss', 'name'])).toBeUndefined();
  expect(valueAt({ loss: 'mems' }, ['loss', 'name'], { unionByName: true })).toBe('mems');
  const schema = z.object({ step: z.number(), lr: z.number().positive() }).strict();
  const issueOf = (v: unknown) => (schema.safeParse(v) as z.SafeParseError<unknown>).error.issues[0]!;
  expect(fieldProblem(issueOf({ step: 'one', lr: 1 }), { step: 'one' })).toBe('expected number, got "one"');
  expect(issueSentence(issueOf({ step: 'one', lr: 1 }), { step: 'one' })).toBe(
    'expected number, got string "one"',
  );
  expect(issueSentence(issueOf({ step: 1, lr: -1 }), { step: 1, lr: -1 })).toBe(
    'number must be greater than 0 (got -1)',
  );
  expect(issueSentence(issueOf({ step: 1, lr: 1, x: 0 }), {}, () => ['step', 'lr'])).toBe(
    'unknown key "x" (known: step, lr)',
  );
  // untrusted strings: escaped (no ESC, NUL, DEL or bidi controls reach a terminal) and cut, with their length
  const binary = `\x7fELF\x1b[31m\x00\u202e${'x'.repeat(100)}`;
  expect(issueSentence(issueOf({ step: binary, lr: 1 }), { step: binary })).toBe(
    `expected number, got string "\\u007fELF\\u001b[31m\\u0000\\u202e${'x'.repeat(49)}..." (111 characters)`,
  );
  expect(quoteExcerpt('a"b\\c')).toBe('"a\\"b\\\\c"');
});
