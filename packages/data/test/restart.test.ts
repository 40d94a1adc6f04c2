import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadManifest, openDataset, prepareDataset } from '../src';
import { CLI, listShards, makeFolderTree, REPO_ROOT, rmDir, tmpDir } from './fixtures';

let root: string;
let src: string;
beforeAll(async () => {
  root = tmpDir('restart');
  src = path.join(root, 'src');
  await makeFolderTree(src, {
    categories: ['a', 'b', 'c', 'd', 'e', 'f'],
    sketches: 30,
    photos: 30,
    size: 96,
  });
});
afterAll(() => rmDir(root));

const args = (out: string) => [
  '--dataset',
  'folder',
  '--root',
  src,
  '--out',
  out,
  '--size',
  '32',
  '--shard-rows',
  '12',
  '--batch-rows',
  '6',
  '--concurrency',
  '1',
  '--quiet',
];
const opts = (out: string) => ({
  dataset: 'folder',
  root: src,
  out,
  size: 32,
  shardRows: 12,
  batchRows: 6,
  concurrency: 1,
});

test('a corrupted shard byte is detected on rerun and the shard rebuilt to the same checksum', async () => {
  const out = path.join(root, 'corrupt');
  const m = await prepareDataset(opts(out));
  const before = listShards(out);
  const victim = path.join(out, m.shards[3].file);
  const bytes = fs.readFileSync(victim);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(victim, bytes);
  const logs: string[] = [];
  const m2 = await prepareDataset({ ...opts(out), log: (l) => logs.push(l) });
  expect(logs).toEqual([
    `${m.shards[3].file}: checksum mismatch, rebuilding`,
    `${out}: kept ${m.shards.length - 1} verified shard(s), 1 to build`,
  ]);
  expect(listShards(out)).toEqual(before);
  expect(m2).toEqual(m);
  // A truncated (partial) shard too.
  fs.truncateSync(victim, 100);
  await prepareDataset(opts(out));
  expect(listShards(out)).toEqual(before);
});

test('prepare killed mid-way (SIGKILL), then rerun: same checksums as an uninterrupted run', async () => {
  const clean = path.join(root, 'clean');
  await prepareDataset(opts(clean));
  const reference = listShards(clean);
  const total = Object.keys(reference).length;
  expect(total).toBeGreaterThanOrEqual(20);

  const out = path.join(root, 'killed');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'prepare', ...args(out)], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, sig) => resolve(sig)),
  );
  let shardsAtKill = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    const have = fs.existsSync(out)
      ? fs.readdirSync(out).filter((n) => /^shard-\d+\.arrow$/.test(n)).length
      : 0;
    if (have >= 3 || child.exitCode !== null) {
      shardsAtKill = have;
      child.kill('SIGKILL');
      break;
    }
  }
  expect(await exited).toBe('SIGKILL');
  expect(shardsAtKill).toBeGreaterThanOrEqual(3);
  expect(shardsAtKill).toBeLessThan(total);
  expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  expect(() => loadManifest(out)).toThrow(/no dataset manifest at .*manifest\.json/);
  expect(() => openDataset(out)).toThrow(/an interrupted prepare leaves no manifest/);
  // Shards recorded in the state file are kept (a renamed shard whose record was not yet written is rebuilt).
  const state = JSON.parse(fs.readFileSync(path.join(out, '.prepare-state.json'), 'utf8')) as {
    shards: Record<string, unknown>;
  };
  const finished = Object.keys(state.shards);
  expect(finished.length).toBeGreaterThanOrEqual(1);
  const stamp = (n: string) => fs.statSync(path.join(out, n)).mtimeMs;
  const mtimes = finished.map(stamp);

  // Rerun through the CLI: keeps the finished shards, builds the rest, ends identical.
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'prepare', ...args(out)], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(listShards(out)).toEqual(reference);
  expect(finished.map(stamp)).toEqual(mtimes); // finished shards were kept, not rewritten
  expect(fs.readdirSync(out).filter((n) => n.includes('.tmp-'))).toEqual([]);
  expect(loadManifest(out).shards).toEqual(loadManifest(clean).shards);
}, 30000);
