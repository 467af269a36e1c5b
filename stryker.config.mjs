// @ts-check
/**
 * StrykerJS config: mutation testing of the hypervisor core (src/hv). Run with `npm run mutate`
 * (one file: `npm run mutate -- --mutate src/hv/scheduler.ts`). See docs/mutation.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: ['src/hv/**/*.ts'],
  coverageAnalysis: 'perTest',
  // The machine's two cores are shared: one test-runner process at a time.
  concurrency: 1,
  reporters: ['clear-text', 'html', 'json', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  // The sandbox is a copy of the repo; leave out what the hv tests never read.
  ignorePatterns: ['/docs', '/examples', '/bench', '/dist', '/guest-kit/build', '/reports', '/.cache', '/test/guest'],
  thresholds: { high: 90, low: 85, break: null },
};
