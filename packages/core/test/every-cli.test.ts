/**
 * @sbir/core's convention, checked on every program of the workspace: each Nx target that runs a
 * program (tools/nx-program: the package CLIs, the benches, tools/) rejects an unknown option with
 * exit 2 and one line `error: ...` naming it, before doing any work. The list comes from the
 * project.json files, so a new program is checked without editing this test.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const BAD = '--bogus-flag';

interface Program {
  entry: string;
  args: string[];
  targets: string[];
}

/** Every distinct entry of a `./tools/nx-program:program` target, with the arguments of its first target. */
function programs(): Program[] {
  const byEntry = new Map<string, Program>();
  for (const pkg of fs.readdirSync(path.join(ROOT, 'packages')).sort()) {
    const file = path.join(ROOT, 'packages', pkg, 'project.json');
    if (!fs.existsSync(file)) continue;
    const project = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      name: string;
      targets: Record<string, { executor?: string; options?: { entry?: string; args?: string[] } }>;
    };
    for (const [name, t] of Object.entries(project.targets)) {
      if (t.executor !== './tools/nx-program:program' || !t.options?.entry) continue;
      const known = byEntry.get(t.options.entry);
      if (known) known.targets.push(`${project.name}:${name}`);
      else
        byEntry.set(t.options.entry, {
          entry: t.options.entry,
          args: t.options.args ?? [],
          targets: [`${project.name}:${name}`],
        });
    }
  }
  return [...byEntry.values()];
}

function run(p: Program, extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, path.join(ROOT, p.entry), ...p.args, ...extra, BAD], {
      cwd: ROOT,
      env: { ...process.env, SBIR_DEBUG: '', TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const PROGRAMS = programs();

test('the workspace has programs to check (the four package CLIs among them)', () => {
  expect(PROGRAMS.map((p) => p.entry)).toEqual(
    expect.arrayContaining([
      ...['data', 'model', 'trainer', 'report'].map((pkg) => `packages/${pkg}/src/cli.ts`),
      'tools/ablation/main.ts',
    ]),
  );
});

describe.each(PROGRAMS.map((p) => [p.targets.join(', '), p] as const))('%s', (_label, p) => {
  test(`${[p.entry, ...p.args].join(' ')} ${BAD}: exit 2, one line naming the option`, async () => {
    let r = await run(p, []);
    // yargs reports a missing required option first: that is a usage error of the same form; give
    // each a value and ask again, so that the unknown option is what is reported
    const missing = /^error: Missing required arguments?: ([\w, -]+) \(see --help\)\n$/.exec(r.stderr);
    if (missing) {
      expect(r.code).toBe(2);
      r = await run(
        p,
        missing[1]!.split(', ').flatMap((name) => [`--${name}`, 'x']),
      );
    }
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 2,
      stderr: expect.stringMatching(/^error: [^\n]*bogus-flag[^\n]*\n$/),
    });
    expect(r.stdout).toBe('');
  }, 120_000);
});
