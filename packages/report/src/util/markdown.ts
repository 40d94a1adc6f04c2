/**
 * Markdown from untrusted strings (names, descriptions and axis values come from a run store that may
 * have been downloaded). Markdown renderers pass raw HTML through and turn `[x](javascript:…)` into links,
 * so every store string is written with these helpers, in prose and headings as well as in table cells.
 *
 * A character is escaped (with a backslash, never an HTML entity, so the source reads as text) only
 * where CommonMark/GFM would give it a meaning:
 * - `<` before a letter, `/`, `!` or `?` (a tag, comment, declaration or autolink); `&` that starts an
 *   entity (`&amp;`, `&#62;`); a lone `>` needs nothing, except at the start of a line (a quote);
 * - `` ` `` and `|` always (code spans, table cells);
 * - `*`, `_` and `~` unless whitespace is on both sides (or, for `_`, a letter or digit on both sides):
 *   only then can they neither open nor close emphasis or strikethrough;
 * - `]` where it could close a link, image or definition: before `(`, `[` or `:`, or without a `[`
 *   before it; `[` without a `]` after it (in text, whatever follows the string might close it);
 * - `\` before ASCII punctuation (where it would itself escape);
 * - at the start of the text (which may start a line): `#` headings, `>` quotes, `-`/`+`/`*` list
 *   markers, `1.`/`1)` ordered lists, and a run of `-` or `=` alone (a rule or a setext underline).
 * What lies beyond the string is unknown in text (`mdText`): there an edge counts as "anything". A table
 * cell (`mdCell`) is parsed on its own, so its edges are whitespace.
 */

const ASCII_PUNCT = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}]/u;
const SPACE = /\s/;
const ENTITY = /^&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});/;

type Edge = 'text' | 'cell';

/**
 * Indices of the `[` and `]` that pair up, as CommonMark's bracket stack does. A backslash of the input
 * escapes nothing here: before punctuation it is written doubled, so the bracket after it stays live.
 */
function bracketPairs(s: string): Set<number> {
  const open: number[] = [];
  const paired = new Set<number>();
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '[') open.push(i);
    else if (s[i] === ']' && open.length) {
      paired.add(open.pop() as number);
      paired.add(i);
    }
  }
  return paired;
}

/** Emphasis and strikethrough delimiters that cannot open or close anything stay as they are. */
function inertDelimiter(c: string, prev: string, next: string): boolean {
  if (SPACE.test(prev) && SPACE.test(next)) return true;
  return c === '_' && WORD.test(prev) && WORD.test(next);
}

function needsEscape(s: string, i: number, edge: Edge, paired: Set<number>): boolean {
  const c = s[i]!;
  // beyond a cell: whitespace (the pipe's padding); beyond text: unknown, so never inert
  const prev = i > 0 ? s[i - 1] : undefined;
  const next = i + 1 < s.length ? s[i + 1] : undefined;
  switch (c) {
    case '`':
    case '|':
      return true;
    case '\\':
      return next === undefined ? edge === 'text' : ASCII_PUNCT.test(next);
    case '*':
    case '_':
    case '~':
      if (edge === 'text' && (prev === undefined || next === undefined)) return true;
      return !inertDelimiter(c, prev ?? ' ', next ?? ' ');
    case '<':
      return next === undefined ? edge === 'text' : /[A-Za-z/!?]/.test(next);
    case '&':
      return ENTITY.test(s.slice(i));
    case '[':
      return edge === 'text' && !paired.has(i);
    case ']':
      if (!paired.has(i)) return edge === 'text';
      return next === undefined ? edge === 'text' : /[([:]/.test(next);
    default:
      return false;
  }
}

/** The index of a block marker at the start of one line of text (after its indent), or -1. */
function lineStartMarker(s: string): number {
  const indent = /^\s*/.exec(s)![0].length;
  const rest = s.slice(indent);
  if (/^(#{1,6}|[-+*])(\s|$)/.test(rest) || rest.startsWith('>')) return indent;
  if (/^(-[-\s]*|=+\s*)$/.test(rest)) return indent;
  const ordered = /^\d{1,9}[.)](\s|$)/.exec(rest);
  return ordered ? indent + ordered[0].search(/[.)]/) : -1;
}

function escapeInline(s: string, edge: Edge): string {
  const paired = bracketPairs(s);
  const marker = edge === 'text' ? lineStartMarker(s) : -1;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    out += (i === marker || needsEscape(s, i, edge, paired) ? '\\' : '') + s[i];
  }
  return out;
}

const oneLine = (s: unknown): string => String(s ?? '').replace(/\r\n?|\n/g, ' ');

/** One line of inline Markdown that renders as exactly `s` (line breaks become spaces), anywhere in a line. */
export function mdText(s: unknown): string {
  return escapeInline(oneLine(s), 'text');
}

/** The content of one table cell that renders as exactly `s` (the cell's edges are its own). */
export function mdCell(s: unknown): string {
  return escapeInline(oneLine(s), 'cell');
}

/** A paragraph (several lines kept) that renders as `s`: each line as `mdText` (which guards its start). */
export function mdParagraph(s: unknown): string {
  return String(s ?? '')
    .split(/\r\n?|\n/)
    .map((line) => mdText(line))
    .join('\n');
}

/** An inline code span holding `s` verbatim: the fence is one backtick longer than any run inside. */
export function mdCode(s: string): string {
  const one = s.replace(/\r\n?|\n/g, ' ');
  const longest = Math.max(0, ...(one.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = one.startsWith('`') || one.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${one}${pad}${fence}`;
}

export { shellWord } from '@sbir/core';
