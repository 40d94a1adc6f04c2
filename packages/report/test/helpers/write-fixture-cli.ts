/** `tsx packages/report/test/helpers/write-fixture-cli.ts <runs-dir>`: writes the test fixtures, for trying the CLI by hand. */
import { ablationFixture, hostileFixture, writeExperiment } from './fixtures';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: write-fixture-cli.ts <runs-dir>');
  await writeExperiment(dir, ablationFixture());
  await writeExperiment(dir, hostileFixture());
  console.log(`fixtures written to ${dir}`);
}

void main();
