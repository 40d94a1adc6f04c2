// Preloaded with NODE_OPTIONS=--require by tests that run the CLI (faults.ts faultEnv): registers
// their fault-injection callback in every process the CLI starts. tsx/cjs lets it load the sources.
require('tsx/cjs');
require('./faults.ts').registerFromEnv();
