/**
 * Vitest config for mutation testing (`npm run mutate`, see stryker.config.mjs and
 * docs/mutation.md): only the fast tests that exercise src/hv, so that each mutant runs in
 * seconds. Guest tests and binaryen-heavy engine tests are left out: they are slow and the unit,
 * property and model tests below already cover the core.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/hv/**/*.test.ts',
      'test/property/hv/**/*.test.ts',
      'test/model/evtchn-host.model.test.ts',
      'test/model/device-port.model.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
