/**
 * docs/reproduce-dase-mems.md cannot drift from the code: every `npx nx run` command in it runs the
 * way Nx runs it (tools/nx-program: the target's entry with tsx, its args, then the command's), with
 * `--help` (exit 0, and every option the command uses is in the help) or, where the page says
 * `--dry-run`, as written with the placeholders pointing at an empty folder.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { childEnv, REPO_ROOT, tmpDir, type CliResult } from './fixtures';

jest.setTimeout(180_000);

const DOC = path.join(REPO_ROOT, 'docs', 'reproduce-dase-mems.md');

interface Command {
  line: string;
  project: string;
  target: string;
  args: string[];
}

/** The `npx nx run <project>:<target> [-- args]` lines of the page's bash blocks, in order. */
function commands(): Command[] {
  const text = fs.readFileSync(DOC, 'utf8');
  const blocks = [...text.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l.startsWith('npx nx run '))
    .map((line) => {
      const [, project, target, rest] = /^npx nx run ([\w-]+):([\w-]+)(?: -- (.*))?$/.exec(line) ?? [];
      if (!project) throw new Error(`not an nx command: ${line}`);
      return { line, project, target: target!, args: rest ? rest.split(/\s+/) : [] };
    });
}

function run(entry: string, args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, entry), ...args], {
    cwd: REPO_ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}

/** The target's program (tools/nx-program options) from the project's project.json. */
function program(c: Command): { entry: string; args: string[] } {
  const file = path.join(REPO_ROOT, 'packages', c.project, 'project.json');
  const project = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    targets: Record<string, { executor?: string; options?: { entry?: string; args?: string[] } }>;
  };
  const t = project.targets[c.target];
  if (!t?.options?.entry) throw new Error(`${c.line}: ${c.project}:${c.target} is not a program target`);
  return { entry: t.options.entry, args: t.options.args ?? [] };
}

const list = commands();
let empty: string;
beforeAll(() => {
  empty = tmpDir('reproduce-doc');
});
afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

test('the page lists the steps in order: prepare, inspect, import, dry run, the grid, status, report', () => {
  expect(list.map((c) => `${c.project}:${c.target}`)).toEqual([
    'model:doctor',
    'data:prepare',
    'data:prepare',
    'data:inspect',
    'data:inspect',
    'model:import',
    'trainer:ablation',
    'trainer:ablation',
    'trainer:ablation',
    'trainer:status',
    'report:generate',
  ]);
  // both datasets are prepared with their extended photos (TU-Berlin fails without them)
  for (const c of list.filter((x) => x.target === 'prepare')) expect(c.args).toContain('--extra-photos');
});

describe.each(list.map((c, i) => [i + 1, c] as const))('command %i', (_i, c) => {
  test(`${c.line}`, async () => {
    const p = program(c);
    if (c.args.includes('--dry-run')) {
      const args = c.args.map((a) => a.replace(/<[^>]+>/g, empty));
      const r = await run(p.entry, [...p.args, ...args, '--runs-dir', path.join(empty, 'runs')]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // 2 datasets x 2 blocks x 3 losses x 3 seeds, with the Euclidean-softmax row
      expect(r.stdout).toMatch(/^experiment paper-ablation .*: 36 cells/);
      const rows = r.stdout.split('\n').filter((l) => /^[0-9a-f]{12}\s/.test(l));
      expect(rows).toHaveLength(36);
      const cols = rows.map((l) => l.split(/\s+/));
      expect([...new Set(cols.map((x) => x[3]))]).toEqual(['softmax', 'euclidean-softmax', 'mems']);
      expect([...new Set(cols.map((x) => x[4]))].sort()).toEqual(['0', '1', '2']);
      return;
    }
    const r = await run(p.entry, [...p.args, ...c.args, '--help']);
    expect(r.code).toBe(0);
    for (const flag of c.args.filter((a) => a.startsWith('--')))
      expect(r.stdout).toContain(flag.replace(/^--no-/, '--'));
  });
});
