/* sbir-lab dashboard: charts (vega-embed), sortable and filterable runs table, run comparison.
 * Plain browser script, no build step. Every string from the run store goes into the page through
 * textContent or attribute setters only, never innerHTML. */
(function () {
  'use strict';
  var dataEl = document.getElementById('page-data');
  var DATA = dataEl ? JSON.parse(dataEl.textContent || '{}') : {};
  var EMBED_OPTS = {
    actions: { export: true, source: false, compiled: false, editor: false },
    renderer: 'svg',
  };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs)
      Object.keys(attrs).forEach(function (k) {
        e.setAttribute(k, attrs[k]);
      });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ---------------------------------------------------------------- charts
  function clone(x) {
    return JSON.parse(JSON.stringify(x));
  }

  /** keeps only rows whose `run` is selected, in every inline dataset of the spec */
  function filterRuns(spec, keep) {
    (function walk(node) {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      if (node.data && Array.isArray(node.data.values)) {
        node.data.values = node.data.values.filter(function (d) {
          return !('run' in d) || keep[d.run];
        });
      }
      Object.keys(node).forEach(function (k) {
        if (k !== 'data') walk(node[k]);
      });
    })(spec);
    // explicit sort lists of runs would keep unselected names in legends
    (function walkSort(node) {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) {
        node.forEach(walkSort);
        return;
      }
      if (node.field === 'run' && Array.isArray(node.sort))
        node.sort = node.sort.filter(function (r) {
          return keep[r];
        });
      Object.keys(node).forEach(function (k) {
        walkSort(node[k]);
      });
    })(spec);
    return spec;
  }

  function embed(node, spec) {
    if (!spec) return;
    if (typeof window.vegaEmbed !== 'function') {
      node.textContent = 'Charts need assets/vega*.js next to this page.';
      return;
    }
    // embed into a child, so the .chart box keeps its width and scrolls a wide chart instead of growing
    node.textContent = '';
    var target = document.createElement('div');
    node.appendChild(target);
    window.vegaEmbed(target, spec, EMBED_OPTS).catch(function (err) {
      node.textContent = 'Chart failed: ' + (err && err.message ? err.message : err);
    });
  }

  function renderCharts(keep) {
    var specs = DATA.specs || {};
    Array.prototype.forEach.call(document.querySelectorAll('[data-chart]'), function (node) {
      var spec = specs[node.getAttribute('data-chart')];
      if (!spec) return;
      if (node.hasAttribute('data-filter-runs')) {
        if (!keep || !Object.keys(keep).length) {
          node.textContent = '';
          node.appendChild(el('p', { class: 'empty' }, 'Select runs to draw this chart.'));
          return;
        }
        spec = filterRuns(clone(spec), keep);
      }
      embed(node, spec);
    });
  }

  // ---------------------------------------------------------------- runs table
  function cellValue(row, idx) {
    var c = row.cells[idx];
    if (!c) return '';
    var v = c.getAttribute('data-sort');
    return v === null ? c.textContent.trim() : v;
  }

  function setupSortable(table) {
    var ths = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, idx) {
      if (th.classList.contains('sel')) return;
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(ths, function (o) {
          o.removeAttribute('aria-sort');
        });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var num = th.getAttribute('data-type') === 'num';
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, idx),
            y = cellValue(b, idx);
          if (num) {
            var ex = x === '' || isNaN(+x),
              ey = y === '' || isNaN(+y);
            if (ex || ey) return ex === ey ? 0 : ex ? 1 : -1; // blanks last either way
            return asc ? x - y : y - x;
          }
          var r = x.localeCompare(y, undefined, { numeric: true, sensitivity: 'base' });
          return asc ? r : -r;
        });
        rows.forEach(function (r) {
          body.appendChild(r);
        });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          sort();
        }
      });
    });
  }

  // Extra columns on demand: Hamming mAP and any config key (DATA.values), appended at the right.
  function setupColumnChooser(table, rows, values, known) {
    var box = document.querySelector('#column-chooser .cols');
    if (!box) return;
    var keys = Object.keys(known)
      .filter(function (k) {
        return ['mAP@all', 'P@200', 'state', 'seed'].indexOf(k) < 0;
      })
      .sort(function (a, b) {
        // the metrics first, then config keys
        var ma = /@/.test(a) ? 0 : 1;
        var mb = /@/.test(b) ? 0 : 1;
        return ma - mb || (a < b ? -1 : a > b ? 1 : 0);
      });
    var headRow = table.tHead.rows[0];
    keys.forEach(function (k) {
      var lab = el('label');
      var cb = el('input', { type: 'checkbox', value: k });
      lab.appendChild(cb);
      lab.appendChild(document.createTextNode(' ' + k));
      box.appendChild(lab);
      cb.addEventListener('change', function () {
        if (cb.checked) {
          headRow.appendChild(el('th', { 'data-col': k, class: 'extra' }, k));
          rows.forEach(function (r) {
            var v = (values[r.getAttribute('data-id')] || {})[k];
            var text =
              v === null || v === undefined ? '' : typeof v === 'number' && /@/.test(k) ? fmt(v) : String(v);
            r.appendChild(
              el('td', { 'data-col': k, class: typeof v === 'number' ? 'num extra' : 'extra' }, text),
            );
          });
        } else {
          Array.prototype.forEach.call(table.querySelectorAll('[data-col]'), function (c) {
            if (c.getAttribute('data-col') === k) c.parentNode.removeChild(c);
          });
        }
      });
    });
  }

  function setupRunsTable() {
    var table = document.getElementById('runs-table');
    if (!table) return;
    setupSortable(table);
    var filter = document.getElementById('filter');
    var stateSel = document.getElementById('state-filter');
    var count = document.getElementById('row-count');
    var link = document.getElementById('compare-link');
    var all = document.getElementById('pick-all');
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);

    var values = DATA.values || {};
    var known = {};
    Object.keys(values).forEach(function (id) {
      Object.keys(values[id]).forEach(function (k) {
        known[k] = true;
      });
    });
    // `key<op>value` on a config key or metric (numbers compare as numbers); any other word is free text
    var EXPR = /^([A-Za-z_@][\w.@-]*)(<=|>=|!=|==|=|<|>)(.+)$/;
    function parseQuery(text) {
      var words = [];
      var exprs = [];
      var errors = [];
      text
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .forEach(function (w) {
          var m = EXPR.exec(w);
          if (!m) return words.push(w.toLowerCase());
          if (!known[m[1]]) return errors.push('unknown key "' + m[1] + '"');
          exprs.push({ key: m[1], op: m[2], value: m[3] });
        });
      return { words: words, exprs: exprs, errors: errors };
    }
    function test(e, v) {
      if (v === null || v === undefined) return false;
      var num = Number(e.value);
      var both = typeof v === 'number' && !isNaN(num);
      var a = both ? v : String(v);
      var b = both ? num : e.value;
      switch (e.op) {
        case '<':
          return a < b;
        case '<=':
          return a <= b;
        case '>':
          return a > b;
        case '>=':
          return a >= b;
        case '!=':
          return a !== b;
        default:
          return a === b;
      }
    }
    var filterError = document.getElementById('filter-error');
    function apply() {
      var query = parseQuery(filter.value || '');
      var q = query.words;
      if (filterError) filterError.textContent = query.errors.join('; ');
      var st = stateSel.value;
      var shown = 0;
      rows.forEach(function (r) {
        var hay = r.getAttribute('data-search') || '';
        var vals = values[r.getAttribute('data-id')] || {};
        var ok =
          (!st || r.getAttribute('data-state') === st) &&
          query.errors.length === 0 &&
          q.every(function (w) {
            return hay.indexOf(w) >= 0;
          }) &&
          query.exprs.every(function (e) {
            return test(e, vals[e.key]);
          });
        r.hidden = !ok;
        if (ok) shown++;
      });
      count.textContent =
        shown === rows.length ? rows.length + ' runs' : 'showing ' + shown + ' of ' + rows.length + ' runs';
    }
    function picked() {
      return rows
        .filter(function (r) {
          return r.querySelector('.pick').checked;
        })
        .map(function (r) {
          return r.getAttribute('data-id');
        });
    }
    function updateLink() {
      var ids = picked();
      rows.forEach(function (r) {
        r.classList.toggle('picked', r.querySelector('.pick').checked);
      });
      link.classList.toggle('disabled', ids.length === 0);
      link.textContent = ids.length ? 'Compare ' + ids.length + ' selected' : 'Compare selected';
      link.setAttribute('href', 'compare.html#runs=' + ids.map(encodeURIComponent).join(','));
    }
    setupColumnChooser(table, rows, values, known);
    filter.addEventListener('input', apply);
    stateSel.addEventListener('change', apply);
    table.addEventListener('change', function (e) {
      if (e.target.classList.contains('pick')) updateLink();
    });
    all.addEventListener('change', function () {
      rows.forEach(function (r) {
        if (!r.hidden) r.querySelector('.pick').checked = all.checked;
      });
      updateLink();
    });
    apply();
    updateLink();
  }

  // ---------------------------------------------------------------- compare
  function fmt(v, d) {
    return v === null || v === undefined || isNaN(v) ? '—' : Number(v).toFixed(d === undefined ? 3 : d);
  }

  function setupCompare() {
    if (DATA.page !== 'compare') return;
    var runs = DATA.runs || [];
    var byId = {};
    runs.forEach(function (r) {
      byId[r.id] = r;
    });
    function fromHash() {
      var m = /runs=([^&]*)/.exec(location.hash);
      var ids = m
        ? m[1]
            .split(',')
            .map(decodeURIComponent)
            .filter(function (id) {
              return byId[id];
            })
        : [];
      if (!m)
        ids = runs
          .filter(function (r) {
            return r.state === 'finished';
          })
          .slice(0, 4)
          .map(function (r) {
            return r.id;
          });
      return ids;
    }
    var picker = document.getElementById('compare-picker');
    var filter = document.getElementById('compare-filter');
    var table = document.getElementById('compare-table');

    function draw() {
      var ids = fromHash();
      var sel = {};
      ids.forEach(function (id) {
        sel[id] = true;
      });
      // picker: built once, then only its checked states follow the hash
      if (!picker.children.length) {
        runs.forEach(function (r) {
          var lab = el('label', { title: r.id + ' · ' + r.state });
          var cb = el('input', { type: 'checkbox', value: r.id });
          lab.appendChild(cb);
          lab.appendChild(
            el('span', {
              class:
                'dot state-' +
                (['queued', 'running', 'finished', 'failed', 'interrupted'].indexOf(r.state) >= 0
                  ? r.state
                  : 'other'),
            }),
          );
          lab.appendChild(document.createTextNode(r.label));
          lab.setAttribute('data-search', (r.label + ' ' + r.id + ' ' + r.state).toLowerCase());
          picker.appendChild(lab);
        });
      }
      Array.prototype.forEach.call(picker.children, function (lab) {
        var cb = lab.querySelector('input');
        cb.checked = !!sel[cb.value];
        lab.classList.toggle('on', cb.checked);
      });
      applyFilter();
      // metrics table
      table.textContent = '';
      var chosen = ids.map(function (id) {
        return byId[id];
      });
      if (!chosen.length) {
        table.appendChild(el('caption', { class: 'empty' }, 'No runs selected.'));
      } else {
        var thead = el('thead');
        var hr = el('tr');
        hr.appendChild(el('th', null, ''));
        chosen.forEach(function (r) {
          var th = el('th');
          var a = el('a', { href: 'r/' + encodeURIComponent(r.id) + '.html' }, r.label);
          th.appendChild(a);
          hr.appendChild(th);
        });
        thead.appendChild(hr);
        table.appendChild(thead);
        var tb = el('tbody');
        var st = el('tr');
        st.appendChild(el('td', null, 'state'));
        chosen.forEach(function (r) {
          st.appendChild(el('td', null, r.state));
        });
        tb.appendChild(st);
        // lineage (lineage.json): always shown, so a comparison across commits or datasets is visible
        var lineageKeys = [];
        chosen.forEach(function (r) {
          Object.keys(r.lineage || {}).forEach(function (k) {
            if (lineageKeys.indexOf(k) < 0) lineageKeys.push(k);
          });
        });
        lineageKeys.forEach(function (k) {
          var tr = el('tr', { class: 'lineage', 'data-lineage': k });
          tr.appendChild(el('td', null, k));
          chosen.forEach(function (r) {
            var v = (r.lineage || {})[k];
            tr.appendChild(el('td', null, v === undefined ? '' : v));
          });
          tb.appendChild(tr);
        });
        var axes = [];
        chosen.forEach(function (r) {
          Object.keys(r.axes || {}).forEach(function (k) {
            if (axes.indexOf(k) < 0) axes.push(k);
          });
        });
        axes.forEach(function (k) {
          var tr = el('tr');
          tr.appendChild(el('td', null, k));
          chosen.forEach(function (r) {
            tr.appendChild(el('td', null, r.axes[k] === undefined ? '' : String(r.axes[k])));
          });
          tb.appendChild(tr);
        });
        Object.keys(chosen[0].metrics).forEach(function (k) {
          var tr = el('tr');
          tr.appendChild(el('td', null, k));
          var vals = chosen.map(function (r) {
            return r.metrics[k];
          });
          var nums = vals.filter(function (v) {
            return typeof v === 'number';
          });
          var hi = nums.length ? Math.max.apply(null, nums) : null;
          var lo = nums.length ? Math.min.apply(null, nums) : null;
          // highlight the best only where the runs differ (not for times)
          var best = k === 'train seconds' || nums.length < 2 || hi === lo ? null : hi;
          vals.forEach(function (v) {
            var td = el('td', null, fmt(v, k === 'train seconds' ? 0 : 3));
            if (best !== null && v === best) td.className = 'best';
            tr.appendChild(td);
          });
          tb.appendChild(tr);
        });
        table.appendChild(tb);
      }
      drawConfigDiff(chosen);
      var keep = {};
      chosen.forEach(function (r) {
        keep[r.label] = true;
      });
      renderCharts(keep);
    }
    // Only the config.json keys whose values differ between the chosen runs.
    function drawConfigDiff(chosen) {
      var diff = document.getElementById('config-diff');
      var note = document.getElementById('config-diff-note');
      if (!diff) return;
      diff.textContent = '';
      if (chosen.length < 2) {
        note.textContent = 'select two or more runs';
        return;
      }
      var keys = [];
      chosen.forEach(function (r) {
        Object.keys(r.config || {}).forEach(function (k) {
          if (keys.indexOf(k) < 0) keys.push(k);
        });
      });
      keys.sort();
      var differing = keys.filter(function (k) {
        var first = (chosen[0].config || {})[k];
        return chosen.some(function (r) {
          return (r.config || {})[k] !== first;
        });
      });
      note.textContent =
        differing.length +
        ' of ' +
        keys.length +
        ' keys differ (config.json; keys with one value are hidden)';
      var thead = el('thead');
      var hr = el('tr');
      hr.appendChild(el('th', null, 'key'));
      chosen.forEach(function (r) {
        hr.appendChild(el('th', null, r.label));
      });
      thead.appendChild(hr);
      diff.appendChild(thead);
      var tb = el('tbody');
      differing.forEach(function (k) {
        var tr = el('tr', { 'data-key': k });
        tr.appendChild(el('td', null, k));
        chosen.forEach(function (r) {
          var v = (r.config || {})[k];
          tr.appendChild(el('td', null, v === undefined ? '(unset)' : v));
        });
        tb.appendChild(tr);
      });
      if (!differing.length) {
        var tr = el('tr');
        tr.appendChild(el('td', { colspan: String(chosen.length + 1) }, 'no differences'));
        tb.appendChild(tr);
      }
      diff.appendChild(tb);
    }
    function applyFilter() {
      var q = (filter.value || '').toLowerCase();
      Array.prototype.forEach.call(picker.children, function (l) {
        l.hidden = q && l.getAttribute('data-search').indexOf(q) < 0;
      });
    }
    picker.addEventListener('change', function () {
      var ids = Array.prototype.filter
        .call(picker.querySelectorAll('input'), function (c) {
          return c.checked;
        })
        .map(function (c) {
          return c.value;
        });
      location.hash = 'runs=' + ids.map(encodeURIComponent).join(',');
    });
    filter.addEventListener('input', applyFilter);
    window.addEventListener('hashchange', draw);
    draw();
  }

  // ---------------------------------------------------------------- auto-refresh (report:serve --watch)
  var SCRIPT = document.currentScript && document.currentScript.src;
  function setupAutoRefresh() {
    if (!/^https?:$/.test(location.protocol) || !SCRIPT || !window.fetch) return;
    var url = SCRIPT.replace(/assets\/app\.js(\?.*)?$/, 'build.json');
    var first = null;
    function check() {
      fetch(url, { cache: 'no-store' })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (b) {
          if (!b || !b.watch) return;
          if (first === null) {
            first = b.builtAt;
            document.body.setAttribute('data-auto-refresh', 'on');
          } else if (b.builtAt !== first) location.reload();
          setTimeout(check, 2000);
        })
        .catch(function () {
          setTimeout(check, 5000);
        });
    }
    check();
  }
  setupAutoRefresh();

  setupRunsTable();
  if (DATA.page === 'compare') setupCompare();
  else renderCharts(null);
})();
