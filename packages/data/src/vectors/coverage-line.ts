/** The one line a CLI or the trainer prints after attaching class vectors (data:prepare, data:vectors). */
import * as path from 'node:path';
import { quoteWord } from './formats';
import { CLASS_COVERAGE_FILE, type ClassVectorCoverage } from './attach';

/** A class name as printed: plain when it is printable, else JSON-quoted (control characters escaped). */
function printable(name: string): string {
  return /^[^\p{C}"]*$/u.test(name) ? name : quoteWord(name);
}

/**
 * The one coverage line, e.g. `class vectors: 77/77 classes, 1 token without a vector
 * (car_(sedan): sedan) -> data/x/class-vectors.json`.
 */
export function coverageLine(c: ClassVectorCoverage, dir: string): string {
  const n = c.classes.length;
  const tokens = c.missingTokens.reduce((a, m) => a + m.tokens.length, 0);
  const shown = c.missingTokens
    .slice(0, 5)
    .map((m) => `${printable(m.category)}: ${m.tokens.map(printable).join(' ')}`);
  const more = c.missingTokens.length > 5 ? `; ${c.missingTokens.length - 5} more classes` : '';
  const zero = c.missingClasses.length
    ? `, zero rows for ${c.missingClasses.length} class${c.missingClasses.length === 1 ? '' : 'es'} without any vector (${c.missingClasses.slice(0, 5).map(printable).join(', ')}${c.missingClasses.length > 5 ? ', ...' : ''})`
    : '';
  const toks = tokens
    ? `${tokens} token${tokens === 1 ? '' : 's'} without a vector (${shown.join('; ')}${more})`
    : 'every token found';
  return `class vectors: ${n - c.missingClasses.length}/${n} classes, ${toks}${zero}, ${c.format} ${c.dim}-d from ${c.source} -> ${path.join(dir, CLASS_COVERAGE_FILE)}`;
}
