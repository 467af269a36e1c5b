#!/usr/bin/env node
// Runs a TypeScript entry point (`node tools/run-ts.js bench/x.ts args…`) the way bin/pvisor.js
// runs the CLI: binaryen loaded natively first (see bin/pvisor.js), then tsx's loader.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const entry = process.argv[2];
if (entry === undefined) {
  process.stderr.write('usage: node tools/run-ts.js <file.ts> [args…]\n');
  process.exit(2);
}
process.argv.splice(1, 1);
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
await import(pathToFileURL(resolve(entry)).href);
