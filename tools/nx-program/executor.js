/**
 * Nx executor "program": runs a TypeScript entry with tsx as a child process whose argv is the command
 * line given after the target, unchanged. nx:run-commands builds a shell string from the arguments and
 * only wraps them in double quotes, so `$(...)` in an argument runs; here no shell is involved at all.
 * The child shares the terminal (stdio inherit, same process group: Ctrl-C reaches it directly);
 * SIGTERM sent to Nx alone is passed on.
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

function runProgram(root, entry, args) {
  const tsx = require.resolve('tsx/cli', { paths: [root] });
  const child = spawn(process.execPath, [tsx, path.resolve(root, entry), ...args], {
    cwd: root,
    stdio: 'inherit',
    shell: false,
  });
  const forward = (signal) => () => child.kill(signal);
  const onTerm = forward('SIGTERM');
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`error: ${entry}: ${e.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 143));
    });
  });
}

module.exports = async function program(options, context) {
  const args = (options.__unparsed__ ?? []).map(String);
  const code = await runProgram(context.root, options.entry, args);
  return { success: code === 0 };
};
