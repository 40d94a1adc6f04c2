import { escapeHtml, html, jsonForScript, raw, safeSegment } from '../src/util/html';

describe('escape-by-default HTML', () => {
  it('escapes interpolated values but not nested templates or raw()', () => {
    const name = '<script>alert("x")</script>&\'';
    const out = html`<td title="${name}">${name}</td>${html`<b>${'<i>'}</b>`}${raw('<br>')}`.value;
    expect(out).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td><b>&lt;i&gt;</b><br>',
    );
    expect(html`${['<a>', html`<b>`]}${null}${undefined}${false}${0}`.value).toBe('&lt;a&gt;<b>0');
    expect(escapeHtml(undefined)).toBe('');
  });

  it('embeds JSON in a script element without a way out', () => {
    const s = jsonForScript({ name: '</script><script>alert(1)</script>', t: '<!-- \u2028' });
    expect(s).not.toMatch(/<|>/);
    expect(JSON.parse(s)).toEqual({ name: '</script><script>alert(1)</script>', t: '<!-- \u2028' });
  });

  it('makes safe path segments', () => {
    expect(safeSegment('demo')).toBe('demo');
    expect(safeSegment('xss<script>alert(1)')).toMatch(/^xss-script-alert-1-[0-9a-f]{8}$/);
    expect(safeSegment('../..')).toMatch(/^x-[0-9a-f]{8}$|^[A-Za-z0-9._-]+$/);
    expect(safeSegment('../..')).not.toContain('/');
    expect(safeSegment('a/b')).not.toBe(safeSegment('a-b'));
  });
});
