/** Shards must open unchanged outside Node: pyarrow and DuckDB read them (via .venv, scripts/python-venv.sh). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareDataset, type Manifest } from '../src';
import { makeFolderTree, PYTHON, rmDir, tmpDir } from './fixtures';

const hasPython = fs.existsSync(PYTHON);
if (!hasPython && process.env.CI) {
  test('python venv is present', () => {
    throw new Error(`${PYTHON} is missing: run scripts/python-venv.sh (npm run py:setup) before the tests`);
  });
}
const maybe = hasPython ? describe : describe.skip;

maybe('shards read by pyarrow and DuckDB', () => {
  let root: string;
  let out: string;
  let m: Manifest;
  beforeAll(async () => {
    root = tmpDir('python');
    await makeFolderTree(path.join(root, 'src'), {
      categories: ['ant', 'bee'],
      sketches: 5,
      photos: 3,
      size: 16,
    });
    out = path.join(root, 'out');
    m = await prepareDataset({
      dataset: 'folder',
      root: path.join(root, 'src'),
      out,
      size: 8,
      queriesPerCategory: 2,
    });
  });
  afterAll(() => rmDir(root));

  const py = (code: string) => {
    const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', timeout: 30000 });
    if (r.status !== 0) throw new Error(r.stderr || `python exited ${r.status}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  test('pyarrow: schema, dictionaries, image bytes', () => {
    const files = JSON.stringify(m.shards.map((s) => path.join(out, s.file)));
    const r = py(`
import json, pyarrow as pa, pyarrow.ipc as ipc
t = pa.concat_tables([ipc.open_file(f).read_all() for f in ${files}])
row = t.slice(0, 1).to_pylist()[0]
print(json.dumps({"rows": t.num_rows, "names": t.schema.names, "domain": str(t.schema.field("domain").type),
  "imglen": len(row["image"]), "h": row["height"], "c": row["channels"], "classes": sorted(set(t.column("category").to_pylist())),
  "splits": sorted(set(t.column("split").to_pylist()))}))`);
    expect(r).toEqual({
      rows: 16,
      names: [
        'id',
        'domain',
        'category',
        'category_index',
        'instance',
        'split',
        'image',
        'height',
        'width',
        'channels',
        'source',
      ],
      domain: 'dictionary<values=string, indices=int32, ordered=0>',
      imglen: 8 * 8 * 3,
      h: 8,
      c: 3,
      classes: ['ant', 'bee'],
      splits: ['gallery', 'query', 'train'],
    });
  });

  test('DuckDB: counts per split and domain match the manifest', () => {
    const files = JSON.stringify(m.shards.map((s) => path.join(out, s.file)));
    const r = py(`
import json, duckdb, pyarrow as pa, pyarrow.ipc as ipc
t = pa.concat_tables([ipc.open_file(f).read_all() for f in ${files}])
rows = duckdb.sql("select split::varchar, domain::varchar, count(*) from t group by all order by all").fetchall()
print(json.dumps({f"{s}/{d}": n for s, d, n in rows}))`);
    expect(r).toEqual({
      'gallery/photo': m.counts.gallery.photo,
      'query/sketch': m.counts.query.sketch,
      'train/sketch': m.counts.train.sketch,
    });
  });
});
