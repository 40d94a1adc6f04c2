/**
 * Preloaded with NODE_OPTIONS=--require <this file> (Node refuses --cpu-prof there, and the trainer's
 * workers are forked with their own execArgv): starts V8's CPU profiler through an in-process inspector
 * session and writes <SBIR_CPU_PROFILE_DIR>/<pid>.cpuprofile when the process exits. An in-process
 * session answers synchronously, so the profile is complete even on process.exit().
 */
'use strict';
const dir = process.env.SBIR_CPU_PROFILE_DIR;
if (dir) {
  const fs = require('node:fs');
  const path = require('node:path');
  const inspector = require('node:inspector');
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.SBIR_CPU_PROFILE_INTERVAL_US) || 1000,
  }); // µs; V8 default 1000
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
