/**
 * util/markdown: store strings written into Markdown render as exactly themselves (checked with a
 * permissive CommonMark renderer), and the source stays readable: a backslash only where a character
 * would start markup, never an HTML entity.
 */
import MarkdownIt from 'markdown-it';
import { mdCell, mdParagraph, mdText } from '../src/util/markdown';

const md = new MarkdownIt({ html: true });
md.validateLink = () => true;
const esc = md.utils.escapeHtml;

/** Strings a renderer would otherwise turn into tags, links, emphasis, code, headings, lists or entities. */
const HOSTILE = [
  '<script>alert(1)</script>',
  '<a href="javascript:alert(2)">x</a>',
  '<!-- comment --> <?php ?> <![CDATA[x]]>',
  '<https://example.com> <mailto:a@b.c>',
  '[click](javascript:alert(4))',
  '![img](x.png)',
  '[ref][1] and [x]: javascript:alert(5)',
  '[a [b] c](javascript:alert(6))',
  'a [b](c)] d',
  '*em* **strong** _em_ __strong__ ~~del~~ ~del~',
  'a*b*c snake_case_name x_ _y',
  '_x_',
  '*x*',
  'x_',
  '`code` ``two``',
  '&amp; &lt; &#62; &#x3e; &copy;',
  '\\<script> \\[x](y) \\*not\\* \\\\ a\\b',
  'pipes | in | text',
  '# heading',
  '###### six',
  '> quote',
  '- item',
  '+ item',
  '* item',
  '1. first',
  '12) twelfth',
  '---',
  '===',
  'trailing backslash \\',
  'x < y > z & w, a <3 b, 1 < 2',
];

/** Readable strings: nothing to escape, so the source is the text itself. */
const PLAIN = [
  'DASE > SE (mAP@all, Holm over 10 settings tested)',
  '95 % CI [-0.010, +0.008]; p < 0.05 with Δ > 0',
  'steps=400, loss=softmax: the same cells as margin=2 (each with loss=softmax)',
  '-0.017 at 400 steps',
  'a * b and a _ b',
  'Q&A and R&D',
  'hot-air_balloon',
];

const paragraph = (s: string) => md.render(s);

describe('mdText, mdCell and mdParagraph', () => {
  it.each(HOSTILE)('renders %j as exactly itself, as text', (s) => {
    expect(paragraph(mdText(s))).toBe(`<p>${esc(s)}</p>\n`);
    // inside a list item, a heading and after other text, too
    expect(md.render(`- ${mdText(s)}`)).toBe(`<ul>\n<li>${esc(s)}</li>\n</ul>\n`);
    expect(md.render(`### ${mdText(s)}`)).toBe(`<h3>${esc(s)}</h3>\n`);
    expect(paragraph(`x ${mdText(s)} y`)).toBe(`<p>x ${esc(s)} y</p>\n`);
  });

  it.each(HOSTILE)('renders %j as exactly itself in a table cell', (s) => {
    const table = md.render(`| h | k |\n| --- | --- |\n| ${mdCell(s)} | ${mdCell(s)} |\n`);
    expect(table).toContain(`<td>${esc(s.trim())}</td>\n<td>${esc(s.trim())}</td>`);
  });

  it.each(PLAIN)('leaves %j unescaped', (s) => {
    expect(mdText(s)).toBe(s);
    expect(mdCell(s)).toBe(s);
    expect(paragraph(mdText(s))).toBe(`<p>${esc(s)}</p>\n`);
  });

  it('escapes with a backslash only where a character would start markup, never with an entity', () => {
    expect(mdText('<b>a</b> & x > y')).toBe('\\<b>a\\</b> & x > y');
    expect(mdText('&amp;')).toBe('\\&amp;');
    expect(mdText('> quote')).toBe('\\> quote');
    expect(mdText('a > b')).toBe('a > b');
    expect(mdText('[x](y)')).toBe('[x\\](y)');
    expect(mdCell('[-0.01, +0.02]')).toBe('[-0.01, +0.02]');
    // text can be followed by anything, so a closing bracket at its end is escaped; a cell ends at its pipe
    expect(mdText('[x]')).toBe('[x\\]');
    expect(mdText('snake_case * 2')).toBe('snake_case * 2');
    expect(mdText('_x_')).toBe('\\_x\\_');
    expect(mdText('1. a')).toBe('1\\. a');
    expect(mdText('-1.5')).toBe('-1.5');
    // an entity in the input is kept as text by a backslash; none is ever produced
    for (const s of [...HOSTILE, ...PLAIN])
      expect(mdText(s).replace(/\\&/g, '')).not.toMatch(/&(lt|gt|amp|quot|#\d+);/);
  });

  it('keeps the lines of a paragraph, each guarded at its start', () => {
    const s = 'first line\n# not a heading\n- not a list\n> not a quote';
    expect(mdParagraph(s)).toBe('first line\n\\# not a heading\n\\- not a list\n\\> not a quote');
    expect(md.render(mdParagraph(s))).toBe(`<p>${esc(s)}</p>\n`);
  });
});
