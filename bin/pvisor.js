#!/usr/bin/env node
// The `pvisor` command. The sources are TypeScript, run through tsx's loader: register it, then
// load the CLI (a dynamic import, so that it happens after the loader is in place).
//
// binaryen (the instrumenter) is imported first, natively: its 15 MB bundle takes ~10 s through
// tsx's loader and under 1 s without it, and Node's module map then serves the later import from
// src/engine/instrument.ts without loading it again.
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli/main.ts');
