/**
 * Builds the C guest kit and the example guests: `npm run build:guests`.
 *
 * Steps, all run from the repository root with relative paths (so no absolute path can reach an
 * output):
 * 1. Find `clang-16`, `wasm-ld-16` and `llvm-ar-16`; if one is missing, print the apt command that
 *    installs them and exit 1.
 * 2. Check that the generated `guest-kit/c/include/pvisor/abi.h` compiles on its own as C99, and
 *    every hand-written kit header on its own as C11 (headers must be self-contained).
 * 3. Compile `guest-kit/c/lib/*.c` and archive them into `guest-kit/build/libpvisor.a` (an
 *    intermediate: `guest-kit/build/` is not checked in).
 * 4. Compile and link every example `guest-kit/examples/<name>/*.c` against the library into
 *    `guest-kit/examples/<name>.wasm` (checked in), validate it, and check its imports (the ABI's,
 *    plus the MMIO traps for examples that use a virtio driver) and exports.
 * 5. Compile the legacy kit `guest-kit/legacy/src/*.c` (the "unmodified OS": crt, klib and the PC
 *    device drivers; headers in `guest-kit/legacy/include`) into `guest-kit/build/liblegacy.a`.
 * 6. Build every workload `guest-kit/workloads/<name>/<name>.c` twice, from one object: linked
 *    with `wl_pv.c` and libpvisor into `guest-kit/workloads/<name>-pv.wasm` (paravirtual: checked
 *    like the examples), and with `wl_legacy.c` and liblegacy into `<name>-fv.wasm` (full
 *    virtualization: it must import nothing from module `pv`, only `hw` port I/O and halt, and
 *    export exactly `_start`, `hw_interrupt` and `hw_if`). `wl_common.c` goes into both.
 * 7. Write `guest-kit/examples/manifest.json`: per example and per workload image the sha256 of
 *    every source and kit header it was built from, the sha256 of the .wasm, the tool versions and
 *    the exact flags, so that a mismatch in CI says whether the sources or the compiler changed.
 *
 * The build is byte-reproducible: no timestamps (llvm-ar runs in deterministic mode), no absolute
 * paths (checked after linking), every list sorted.
 *
 * `--check` builds into `guest-kit/build/check/` instead, compares with the checked-in files and
 * exits 1 with a diagnosis when they differ; it writes nothing under `guest-kit/examples/` or
 * `guest-kit/workloads/`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (all paths below are relative to it). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const CC = 'clang-16';
const LD = 'wasm-ld-16';
const AR = 'llvm-ar-16';
/** What to run when the toolchain is missing (the pinned Debian packages). */
const INSTALL_HINT = 'apt-get update && apt-get install -y --no-install-recommends clang-16 lld-16 llvm-16';

const KIT = 'guest-kit';
const INCLUDE_DIR = `${KIT}/c/include`;
const HEADER_DIR = `${INCLUDE_DIR}/pvisor`;
const LIB_DIR = `${KIT}/c/lib`;
const EXAMPLES_DIR = `${KIT}/examples`;
const BUILD_DIR = `${KIT}/build`;
const MANIFEST = `${EXAMPLES_DIR}/manifest.json`;
const LEGACY_INCLUDE_DIR = `${KIT}/legacy/include`;
const LEGACY_HEADER_DIR = `${LEGACY_INCLUDE_DIR}/legacy`;
const LEGACY_SRC_DIR = `${KIT}/legacy/src`;
const WORKLOADS_DIR = `${KIT}/workloads`;
/** The workload backends and the helpers both link (guest-kit/workloads/wl.h). */
const WL_COMMON = `${WORKLOADS_DIR}/wl_common.c`;
const WL_PV = `${WORKLOADS_DIR}/wl_pv.c`;
const WL_LEGACY = `${WORKLOADS_DIR}/wl_legacy.c`;

/** Flags for every object, library members included (DESIGN.md: -matomics -mbulk-memory on all). */
const CFLAGS: readonly string[] = [
  '--target=wasm32',
  '-ffreestanding',
  '-nostdlib',
  '-O2',
  '-matomics',
  '-mbulk-memory',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Werror',
  `-I${INCLUDE_DIR}`,
];

/** Flags of the legacy kit and of the legacy workload backend: its headers come first. */
const LEGACY_CFLAGS: readonly string[] = [...CFLAGS, `-I${LEGACY_INCLUDE_DIR}`];

/** Flags of the standalone check of the generated ABI header. */
const ABI_CHECK_FLAGS: readonly string[] = [
  '--target=wasm32',
  '-ffreestanding',
  '-std=c99',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fsyntax-only',
  `-I${INCLUDE_DIR}`,
];

/**
 * The link line. Memory is imported, shared, and may be as large as wasm32 allows (the host picks
 * the domain's size; the import's maximum only has to be at least that). --stack-first puts vCPU
 * 0's 64 KiB stack at the bottom of memory so an overflow traps instead of corrupting .data.
 */
const LAYOUT_LDFLAGS: readonly string[] = [
  '--import-memory',
  '--shared-memory',
  '--max-memory=4294967296',
  '--no-entry',
  '--stack-first',
  '-z',
  'stack-size=65536',
];

/** The paravirtual link line: the layout above and the guest interface's exports. */
const LDFLAGS: readonly string[] = [
  ...LAYOUT_LDFLAGS,
  '--export=_start',
  '--export=pv_upcall',
  '--export=pv_vcpu_entry',
  '--export=__stack_pointer',
];

/**
 * The link line of a full-virtualization image: the same memory and stack layout, and the exports
 * of spec/abi.json `legacyPlatform` — `_start(boot_info*)`, the interrupt entry and the address of
 * the interrupt flag (a C variable, exported as an i32 global by --export).
 */
const LEGACY_LDFLAGS: readonly string[] = [
  ...LAYOUT_LDFLAGS,
  '--export=_start',
  '--export=hw_interrupt',
  '--export=hw_if',
];

/** llvm-ar: replace/create, write an index, deterministic (zero timestamps, uids, modes). */
const ARFLAGS: readonly string[] = ['rcsD'];

/** What every linked example must import and export (spec/abi.json guestInterface). */
const EXPECTED_IMPORTS = ['env.memory', 'pv.hypercall'];
/**
 * Imports an example may add: the ABI 1.1 MMIO traps, which the kit's virtio drivers
 * (virtio_mmio.c) use; only examples that link a driver import them.
 */
const OPTIONAL_IMPORTS = ['hw.mmio_read32', 'hw.mmio_write32'];
const EXPECTED_EXPORTS = ['__stack_pointer', '_start', 'pv_upcall', 'pv_vcpu_entry'];
/** What a full-virtualization image may import: its memory and the port I/O traps (never `pv.*`). */
const LEGACY_ALLOWED_IMPORTS = ['env.memory', ...['in8', 'in16', 'in32', 'out8', 'out16', 'out32', 'ins16', 'outs16', 'ins32', 'outs32', 'halt'].map((t) => `hw.${t}`)];
const LEGACY_EXPORTS = ['_start', 'hw_if', 'hw_interrupt'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Thrown for a build failure; the message is printed without a stack trace. */
class BuildError extends Error {}

function abs(rel: string): string {
  return path.join(ROOT, rel);
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function fileSha(rel: string): string {
  return sha256(readFileSync(abs(rel)));
}

/** Runs a tool from the repository root; throws with its output on failure. */
function run(tool: string, args: readonly string[], input?: string): string {
  const r = spawnSync(tool, args, { cwd: ROOT, encoding: 'utf8', input });
  if (r.error) throw new BuildError(`${tool}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new BuildError(`${tool} ${args.join(' ')}\n${r.stdout}${r.stderr}`.trimEnd());
  }
  return r.stdout;
}

/** First line of `tool --version`, or undefined when the tool cannot be run. */
function versionOf(tool: string): string | undefined {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.split('\n')[0]?.trim();
}

function listFiles(dir: string, ext: string): string[] {
  if (!existsSync(abs(dir))) return [];
  return readdirSync(abs(dir))
    .filter((f) => f.endsWith(ext) && statSync(abs(`${dir}/${f}`)).isFile())
    .sort()
    .map((f) => `${dir}/${f}`);
}

/** Kit headers named in a clang depfile (compiler-internal headers such as stdint.h are left out:
 * the compiler version covers them). */
function depHeaders(depfile: string): string[] {
  const text = readFileSync(abs(depfile), 'utf8').replace(/\\\n/g, ' ');
  const colon = text.indexOf(': ');
  const deps = text
    .slice(colon + 2)
    .split(/\s+/)
    .filter((d) => d !== '');
  // Normalised, so that "dir/../wl.h" and "wl.h" reached from elsewhere are one entry.
  return deps.filter((d) => d.endsWith('.h') && d.startsWith(`${KIT}/`)).map((d) => path.posix.normalize(d));
}

/** Compiles one C file to `obj`; returns the kit headers it included. */
function compile(src: string, obj: string, flags: readonly string[] = CFLAGS): string[] {
  const dep = obj.replace(/\.o$/, '.d');
  run(CC, [...flags, '-MD', '-MF', dep, '-c', src, '-o', obj]);
  return depHeaders(dep);
}

/** Checks the generated ABI header (C99) and each hand-written header (C11) on their own. */
function checkHeaders(): void {
  const abi = `${HEADER_DIR}/abi.h`;
  if (!existsSync(abs(abi))) {
    throw new BuildError(`${abi} is missing: run \`npm run gen\` first`);
  }
  run(CC, [...ABI_CHECK_FLAGS, '-x', 'c', '-'], '#include <pvisor/abi.h>\n');
  const c11 = ABI_CHECK_FLAGS.map((f) => (f === '-std=c99' ? '-std=c11' : f));
  for (const h of listFiles(HEADER_DIR, '.h')) {
    const name = path.posix.basename(h);
    if (name === 'abi.h') continue;
    run(CC, [...c11, '-x', 'c', '-'], `#include <pvisor/${name}>\n`);
  }
  const legacyC11 = [...c11, `-I${LEGACY_INCLUDE_DIR}`];
  for (const h of listFiles(LEGACY_HEADER_DIR, '.h')) {
    run(CC, [...legacyC11, '-x', 'c', '-'], `#include <legacy/${path.posix.basename(h)}>\n`);
  }
  run(CC, [...c11, '-x', 'c', '-'], `#include "${WORKLOADS_DIR}/wl.h"\n`);
}

/** Import and export names of a module, as "module.name" and "name", sorted. */
function moduleInterface(bytes: Uint8Array<ArrayBuffer>): { imports: string[]; exports: string[] } {
  const m = new WebAssembly.Module(bytes);
  return {
    imports: WebAssembly.Module.imports(m)
      .map((i) => `${i.module}.${i.name}`)
      .sort(),
    exports: WebAssembly.Module.exports(m)
      .map((e) => e.name)
      .sort(),
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Recursively sorts object keys so that JSON output does not depend on insertion order. */
function sorted(v: Json): Json {
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === 'object') {
    const out: { [key: string]: Json } = {};
    for (const k of Object.keys(v).sort()) out[k] = sorted(v[k] as Json);
    return out;
  }
  return v;
}

function hashes(files: Iterable<string>): { [path: string]: Json } {
  const out: { [path: string]: Json } = {};
  for (const f of [...new Set(files)].sort()) out[f] = fileSha(f);
  return out;
}

interface Toolchain {
  cc: string;
  ld: string;
  ar: string;
}

function findToolchain(): Toolchain {
  const cc = versionOf(CC);
  const ld = versionOf(LD);
  const ar = versionOf(AR);
  if (cc === undefined || ld === undefined || ar === undefined) {
    process.stderr.write(`${INSTALL_HINT}\n`);
    process.exit(1);
  }
  return { cc, ld, ar };
}

/**
 * Builds everything: examples into `outDir` and workload images into `workloadsOut` (their
 * directories, or scratch directories for --check). Returns the manifest text.
 */
function build(tc: Toolchain, outDir: string, workloadsOut: string): string {
  checkHeaders();

  rmSync(abs(`${BUILD_DIR}/lib`), { recursive: true, force: true });
  rmSync(abs(`${BUILD_DIR}/examples`), { recursive: true, force: true });
  rmSync(abs(`${BUILD_DIR}/legacy`), { recursive: true, force: true });
  rmSync(abs(`${BUILD_DIR}/workloads`), { recursive: true, force: true });
  mkdirSync(abs(`${BUILD_DIR}/lib`), { recursive: true });

  // The library.
  const libSources = listFiles(LIB_DIR, '.c');
  if (libSources.length === 0) throw new BuildError(`no sources in ${LIB_DIR}`);
  const libHeaders = new Set<string>();
  const libObjects: string[] = [];
  for (const src of libSources) {
    const obj = `${BUILD_DIR}/lib/${path.posix.basename(src, '.c')}.o`;
    for (const h of compile(src, obj)) libHeaders.add(h);
    libObjects.push(obj);
  }
  const lib = `${BUILD_DIR}/libpvisor.a`;
  rmSync(abs(lib), { force: true });
  run(AR, [...ARFLAGS, lib, ...libObjects]);

  // The examples: every directory under examples/ holding .c files.
  const names = readdirSync(abs(EXAMPLES_DIR))
    .filter((d) => statSync(abs(`${EXAMPLES_DIR}/${d}`)).isDirectory())
    .filter((d) => listFiles(`${EXAMPLES_DIR}/${d}`, '.c').length > 0)
    .sort();
  const examples: { [name: string]: Json } = {};
  for (const name of names) {
    const sources = listFiles(`${EXAMPLES_DIR}/${name}`, '.c');
    const objDir = `${BUILD_DIR}/examples/${name}`;
    mkdirSync(abs(objDir), { recursive: true });
    const headers = new Set(libHeaders);
    const objects: string[] = [];
    for (const src of sources) {
      const obj = `${objDir}/${path.posix.basename(src, '.c')}.o`;
      for (const h of compile(src, obj)) headers.add(h);
      objects.push(obj);
    }
    const wasm = `${outDir}/${name}.wasm`;
    run(LD, [...LDFLAGS, ...objects, lib, '-o', wasm]);

    chmodSync(abs(wasm), 0o644); // wasm-ld marks its output executable; these are data
    const file = readFileSync(abs(wasm));
    if (file.includes(ROOT)) throw new BuildError(`${wasm} contains the path ${ROOT}`);
    const bytes = new Uint8Array(file);
    if (!WebAssembly.validate(bytes)) throw new BuildError(`${wasm} does not validate`);
    const { imports, exports } = moduleInterface(bytes);
    const required = imports.filter((i) => !OPTIONAL_IMPORTS.includes(i));
    if (!sameList(required, EXPECTED_IMPORTS)) {
      throw new BuildError(
        `${wasm} imports ${imports.join(', ')}; expected ${EXPECTED_IMPORTS.join(', ')} (optionally ${OPTIONAL_IMPORTS.join(', ')})`,
      );
    }
    if (!sameList(exports, EXPECTED_EXPORTS)) {
      throw new BuildError(`${wasm} exports ${exports.join(', ')}; expected ${EXPECTED_EXPORTS.join(', ')}`);
    }

    examples[name] = {
      wasm: `${name}.wasm`,
      sha256: sha256(bytes),
      bytes: bytes.length,
      compiler: tc.cc,
      linker: tc.ld,
      archiver: tc.ar,
      cflags: [...CFLAGS],
      ldflags: [...LDFLAGS],
      arflags: [...ARFLAGS],
      sources: hashes([...sources, ...libSources]),
      headers: hashes(headers),
      imports,
      exports,
    };
  }

  const workloads = buildWorkloads(tc, workloadsOut, { lib, libSources, libHeaders });

  const manifest: Json = {
    note: 'Written by `npm run build:guests` (tools/build-guests.ts); do not edit. Sources and headers are hashed as built; paths are relative to the repository root.',
    abiHeader: fileSha(`${HEADER_DIR}/abi.h`),
    examples,
    workloads,
  };
  return `${JSON.stringify(sorted(manifest), null, 2)}\n`;
}

/** Reads a linked image, refuses absolute paths and invalid modules; returns bytes and interface. */
function linkedImage(wasm: string): { bytes: Uint8Array<ArrayBuffer>; imports: string[]; exports: string[] } {
  chmodSync(abs(wasm), 0o644); // wasm-ld marks its output executable; these are data
  const file = readFileSync(abs(wasm));
  if (file.includes(ROOT)) throw new BuildError(`${wasm} contains the path ${ROOT}`);
  const bytes = new Uint8Array(file);
  if (!WebAssembly.validate(bytes)) throw new BuildError(`${wasm} does not validate`);
  return { bytes, ...moduleInterface(bytes) };
}

/** The paravirtual kit, as built by {@link build}. */
interface PvLib {
  lib: string;
  libSources: string[];
  libHeaders: Set<string>;
}

/**
 * Steps 5 and 6: the legacy kit's library, then each workload linked against both backends.
 * Returns the manifest's `workloads` section (one record per image, keyed `<name>-pv`/`<name>-fv`).
 */
function buildWorkloads(tc: Toolchain, outDir: string, pv: PvLib): { [name: string]: Json } {
  const objDir = `${BUILD_DIR}/legacy`;
  mkdirSync(abs(objDir), { recursive: true });
  const legacySources = listFiles(LEGACY_SRC_DIR, '.c');
  if (legacySources.length === 0) throw new BuildError(`no sources in ${LEGACY_SRC_DIR}`);
  const legacyHeaders = new Set<string>();
  const legacyObjects: string[] = [];
  for (const src of legacySources) {
    const obj = `${objDir}/${path.posix.basename(src, '.c')}.o`;
    for (const h of compile(src, obj, LEGACY_CFLAGS)) legacyHeaders.add(h);
    legacyObjects.push(obj);
  }
  const legacyLib = `${BUILD_DIR}/liblegacy.a`;
  rmSync(abs(legacyLib), { force: true });
  run(AR, [...ARFLAGS, legacyLib, ...legacyObjects]);

  // The backends and the shared helpers: compiled once, linked into every workload.
  const wlDir = `${BUILD_DIR}/workloads`;
  mkdirSync(abs(wlDir), { recursive: true });
  const wlObj = (src: string) => `${wlDir}/${path.posix.basename(src, '.c')}.o`;
  const commonHeaders = compile(WL_COMMON, wlObj(WL_COMMON));
  const pvHeaders = compile(WL_PV, wlObj(WL_PV));
  const legacyBackendHeaders = compile(WL_LEGACY, wlObj(WL_LEGACY), LEGACY_CFLAGS);

  const variants = [
    {
      suffix: 'pv',
      backend: WL_PV,
      backendHeaders: pvHeaders,
      lib: pv.lib,
      libSources: pv.libSources,
      libHeaders: pv.libHeaders,
      cflags: CFLAGS,
      ldflags: LDFLAGS,
      check: (wasm: string, imports: string[], exports: string[]) => {
        const required = imports.filter((i) => !OPTIONAL_IMPORTS.includes(i));
        if (!sameList(required, EXPECTED_IMPORTS)) {
          throw new BuildError(`${wasm} imports ${imports.join(', ')}; expected ${EXPECTED_IMPORTS.join(', ')} (optionally ${OPTIONAL_IMPORTS.join(', ')})`);
        }
        if (!sameList(exports, EXPECTED_EXPORTS)) throw new BuildError(`${wasm} exports ${exports.join(', ')}; expected ${EXPECTED_EXPORTS.join(', ')}`);
      },
    },
    {
      suffix: 'fv',
      backend: WL_LEGACY,
      backendHeaders: legacyBackendHeaders,
      lib: legacyLib,
      libSources: legacySources,
      libHeaders: legacyHeaders,
      cflags: LEGACY_CFLAGS,
      ldflags: LEGACY_LDFLAGS,
      check: (wasm: string, imports: string[], exports: string[]) => {
        // spec legacyPlatform: an unmodified guest imports nothing from module `pv`.
        const bad = imports.filter((i) => !LEGACY_ALLOWED_IMPORTS.includes(i));
        if (bad.length > 0 || !imports.includes('env.memory')) {
          throw new BuildError(`${wasm} imports ${imports.join(', ')}; a full-virtualization image may import only ${LEGACY_ALLOWED_IMPORTS.join(', ')} (env.memory required)`);
        }
        if (!sameList(exports, LEGACY_EXPORTS)) throw new BuildError(`${wasm} exports ${exports.join(', ')}; expected ${LEGACY_EXPORTS.join(', ')}`);
      },
    },
  ];

  const names = existsSync(abs(WORKLOADS_DIR))
    ? readdirSync(abs(WORKLOADS_DIR))
        .filter((d) => statSync(abs(`${WORKLOADS_DIR}/${d}`)).isDirectory())
        .filter((d) => listFiles(`${WORKLOADS_DIR}/${d}`, '.c').length > 0)
        .sort()
    : [];
  const out: { [name: string]: Json } = {};
  for (const name of names) {
    const sources = listFiles(`${WORKLOADS_DIR}/${name}`, '.c');
    const dir = `${wlDir}/${name}`;
    mkdirSync(abs(dir), { recursive: true });
    const headers = new Set(commonHeaders);
    const objects: string[] = [];
    for (const src of sources) {
      const obj = `${dir}/${path.posix.basename(src, '.c')}.o`;
      for (const h of compile(src, obj)) headers.add(h);
      objects.push(obj);
    }
    for (const v of variants) {
      const image = `${name}-${v.suffix}`;
      const wasm = `${outDir}/${image}.wasm`;
      run(LD, [...v.ldflags, ...objects, wlObj(WL_COMMON), wlObj(v.backend), v.lib, '-o', wasm]);
      const { bytes, imports, exports } = linkedImage(wasm);
      v.check(wasm, imports, exports);
      out[image] = {
        wasm: `${image}.wasm`,
        sha256: sha256(bytes),
        bytes: bytes.length,
        compiler: tc.cc,
        linker: tc.ld,
        archiver: tc.ar,
        cflags: [...v.cflags],
        ldflags: [...v.ldflags],
        arflags: [...ARFLAGS],
        sources: hashes([...sources, WL_COMMON, v.backend, ...v.libSources]),
        headers: hashes([...headers, ...v.backendHeaders, ...v.libHeaders]),
        imports,
        exports,
      };
    }
  }
  return out;
}

/** --check: explains how a fresh build differs from the checked-in files. Returns the problems. */
function compare(freshManifest: string): string[] {
  if (!existsSync(abs(MANIFEST))) return [`${MANIFEST} is missing`];
  type Sections = { examples?: Record<string, ExampleRecord>; workloads?: Record<string, ExampleRecord> };
  const old = JSON.parse(readFileSync(abs(MANIFEST), 'utf8')) as Sections;
  const cur = JSON.parse(freshManifest) as Sections;
  const problems = [
    ...compareSection(old.examples ?? {}, cur.examples ?? {}, EXAMPLES_DIR),
    ...compareSection(old.workloads ?? {}, cur.workloads ?? {}, WORKLOADS_DIR),
  ];
  if (problems.length === 0 && readFileSync(abs(MANIFEST), 'utf8') !== freshManifest) {
    problems.push(`${MANIFEST} differs from a fresh build (formatting or metadata)`);
  }
  return problems;
}

/** compare() for one manifest section whose images live in `dir`. */
function compareSection(olds: Record<string, ExampleRecord>, curs: Record<string, ExampleRecord>, dir: string): string[] {
  const problems: string[] = [];
  const names = new Set([...Object.keys(olds), ...Object.keys(curs)]);
  for (const name of [...names].sort()) {
    const o = olds[name];
    const c = curs[name];
    if (o === undefined || c === undefined) {
      problems.push(`${name}: ${o === undefined ? 'not checked in' : 'no longer built'}`);
      continue;
    }
    const why: string[] = [];
    for (const kind of ['sources', 'headers'] as const) {
      const files = new Set([...Object.keys(o[kind]), ...Object.keys(c[kind])]);
      for (const f of [...files].sort()) if (o[kind][f] !== c[kind][f]) why.push(`${f} changed`);
    }
    if (o.compiler !== c.compiler) why.push(`compiler was "${o.compiler}", is "${c.compiler}"`);
    if (o.linker !== c.linker) why.push(`linker was "${o.linker}", is "${c.linker}"`);
    if (JSON.stringify([o.cflags, o.ldflags, o.arflags]) !== JSON.stringify([c.cflags, c.ldflags, c.arflags])) {
      why.push('flags changed');
    }
    const wasm = `${dir}/${name}.wasm`;
    const onDisk = existsSync(abs(wasm)) ? fileSha(wasm) : 'missing';
    if (onDisk !== o.sha256) why.push(`${name}.wasm on disk does not match the manifest`);
    if (onDisk === c.sha256 && o.sha256 === c.sha256) {
      if (why.length > 0) problems.push(`${name}: same module, but the manifest is stale: ${why.join('; ')}`);
      continue;
    }
    if (why.length === 0) why.push('same inputs, different output: the build is not reproducible here');
    problems.push(`${name}.wasm differs: ${why.join('; ')}`);
  }
  return problems;
}

interface ExampleRecord {
  sha256: string;
  compiler: string;
  linker: string;
  cflags: string[];
  ldflags: string[];
  arflags: string[];
  sources: Record<string, string>;
  headers: Record<string, string>;
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const tc = findToolchain();
  try {
    if (check) {
      const dir = `${BUILD_DIR}/check`;
      rmSync(abs(dir), { recursive: true, force: true });
      mkdirSync(abs(dir), { recursive: true });
      mkdirSync(abs(`${dir}/workloads`), { recursive: true });
      const manifest = build(tc, dir, `${dir}/workloads`);
      const problems = compare(manifest);
      for (const p of problems) process.stderr.write(`build-guests: ${p}\n`);
      if (problems.length > 0) {
        process.stderr.write('build-guests: run `npm run build:guests` and commit guest-kit/examples and guest-kit/workloads\n');
        return 1;
      }
      process.stdout.write('build-guests: checked-in guests match a fresh build\n');
      return 0;
    }
    const manifest = build(tc, EXAMPLES_DIR, WORKLOADS_DIR);
    writeFileSync(abs(MANIFEST), manifest);
    const parsed = JSON.parse(manifest) as { examples: object; workloads: object };
    const built = Object.keys(parsed.examples);
    const wl = Object.keys(parsed.workloads);
    process.stdout.write(`build-guests: built ${built.length} guests (${built.join(', ')}) and ${wl.length} workload images (${wl.join(', ')}) with ${tc.cc}\n`);
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      process.stderr.write(`build-guests: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

process.exit(main(process.argv.slice(2)));
