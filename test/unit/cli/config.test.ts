import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/args.ts';
import { detectFormat, loadConfigFile, parseConfigText, validateConfig } from '../../../src/cli/config.ts';

const BASE = '/cfg';
const M = 2 ** 20;

/** The problems of validating `value`, or [] when it is valid. */
function problemsOf(value: unknown): string[] {
  const problems: string[] = [];
  validateConfig(value, BASE, problems);
  return problems;
}

function textProblems(text: string, fileName: string): string[] {
  try {
    parseConfigText(text, { fileName, baseDir: BASE });
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).problems;
  }
  throw new Error('accepted');
}

describe('config files', () => {
  it('reads a JSON config, resolving images against the config directory', () => {
    const text = JSON.stringify({
      seed: 7,
      maxTime: '2m',
      domains: [
        { name: 'ping', image: 'guests/pp.wasm', memory: '32M', vcpus: 2, cmdline: 'role=ping' },
        { image: '/abs/hello.wasm' },
      ],
    });
    expect(parseConfigText(text, { fileName: 'run.json', baseDir: BASE })).toEqual({
      seed: 7,
      maxTimeNs: 120e9,
      domains: [
        { name: 'ping', image: resolve(BASE, 'guests/pp.wasm'), memBytes: 32 * M, vcpus: 2, cmdline: 'role=ping' },
        { name: 'hello', image: '/abs/hello.wasm', memBytes: 16 * M, vcpus: 1, cmdline: '' },
      ],
    });
  });

  it('reads the same config in YAML', () => {
    const yaml = [
      'seed: 7',
      'maxTime: 2m',
      'domains:',
      '  - name: ping',
      '    image: guests/pp.wasm',
      '    memory: 32M',
      '    vcpus: 2',
      '    cmdline: role=ping',
      '  - image: /abs/hello.wasm',
      '',
    ].join('\n');
    const json = parseConfigText(
      '{"seed":7,"maxTime":"2m","domains":[{"name":"ping","image":"guests/pp.wasm","memory":"32M","vcpus":2,"cmdline":"role=ping"},{"image":"/abs/hello.wasm"}]}',
      { fileName: 'a.json', baseDir: BASE },
    );
    expect(parseConfigText(yaml, { fileName: 'a.yaml', baseDir: BASE })).toEqual(json);
  });

  it('accepts memory as a number of bytes', () => {
    expect(problemsOf({ domains: [{ image: 'a.wasm', memory: 65536 }] })).toEqual([]);
  });

  it('chooses the format by extension, else by the first character', () => {
    expect(detectFormat('x.json', 'a: 1')).toBe('json');
    expect(detectFormat('x.YML', '{}')).toBe('yaml');
    expect(detectFormat('x.conf', '  {"domains": []}')).toBe('json');
    expect(detectFormat('x', 'domains: []')).toBe('yaml');
  });

  it('loads the demo configs shipped in examples/', () => {
    const json = loadConfigFile('examples/demo.json');
    expect(json.domains.map((d) => [d.name, d.cmdline])).toEqual([
      ['ping', 'role=ping peer=2 count=1000'],
      ['pong', 'role=pong peer=1 count=1000'],
      ['timer', ''],
      ['hello', 'hello from pvisor'],
      ['responder', 'role=responder count=4'],
      ['pinger', 'role=pinger count=4 ip=10.0.0.1'],
      ['blkcheck', ''],
      ['echo', ''],
      ['pvsend', 'role=send count=200 size=1000'],
      ['fvsink', 'role=sink count=200 size=1000'],
    ]);
    expect(json.domains[7]?.console).toMatchObject({ kind: 'stdio', input: 'typed into virtio-console\nquit\n' });
    expect(json.domains[0]?.image).toBe(resolve('guest-kit/examples/pingpong.wasm'));
    // The same run in both formats; only the error-message origins name different files.
    const plain = (c: unknown) => JSON.parse(JSON.stringify(c, (k, v) => (k === 'origin' ? undefined : v)));
    expect(plain(loadConfigFile('examples/demo.yaml'))).toEqual(plain(json));
  });

  it('names a missing file', () => {
    expect(() => loadConfigFile('no/such.json')).toThrow('--config: no/such.json: no such file');
  });
});

describe('config validation names the path and the fix', () => {
  const ok = { image: 'a.wasm' };

  it.each<[string, unknown, string]>([
    ['memory', { domains: [ok, { image: 'b.wasm', memory: '12X' }] }, 'domains[1].memory: "12X" is not a size; use e.g. 64M or 1G'],
    ['memory not a page multiple', { domains: [{ image: 'b.wasm', memory: 100000 }] }, 'domains[0].memory: "100000" is not a multiple of 64K (the Wasm page size); use 64K or 128K'],
    ['memory type', { domains: [{ image: 'b.wasm', memory: true }] }, 'domains[0].memory: expected a size such as "64M" or "1G", got true'],
    ['vcpus', { domains: [{ image: 'b.wasm', vcpus: 0 }] }, 'domains[0].vcpus: 0 is not a vCPU count; use a whole number from 1 to 32'],
    ['vcpus type', { domains: [{ image: 'b.wasm', vcpus: '2' }] }, 'domains[0].vcpus: "2" is not a vCPU count; use a whole number from 1 to 32'],
    ['cmdline type', { domains: [{ image: 'b.wasm', cmdline: 3 }] }, 'domains[0].cmdline: expected a string, got 3; quote it'],
    ['cmdline length', { domains: [{ image: 'b.wasm', cmdline: 'x'.repeat(1025) }] }, 'domains[0].cmdline: is 1025 bytes long; the most is 1024'],
    ['image missing', { domains: [{ name: 'a' }] }, 'domains[0].image: missing; give the guest\'s .wasm file, relative to the config file'],
    ['image type', { domains: [{ image: 5 }] }, 'domains[0].image: expected a path, got 5; give the guest\'s .wasm file, relative to the config file'],
    ['name', { domains: [{ image: 'b.wasm', name: 'my guest' }] }, 'domains[0].name: "my guest" is not a valid name; use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'],
    ['name type', { domains: [{ image: 'b.wasm', name: 1 }] }, 'domains[0].name: expected a string, got 1'],
    ['duplicate name', { domains: [{ image: 'a.wasm', name: 'x' }, { image: 'b.wasm', name: 'x' }] }, 'domains[1].name: "x" is already used by domains[0]; give each domain its own name'],
    ['duplicate implicit name', { domains: [ok, ok] }, 'domains[1].name: "a" (from the image file name) is already used by domains[0]; give each domain its own name'],
    ['unknown domain key', { domains: [{ image: 'b.wasm', memroy: '16M' }] }, 'domains[0].memroy: unknown key; did you mean "memory"? valid keys here: name, image, memory, vcpus, cmdline, disks, net, console, consoleInput'],
    ['unknown top key', { domains: [ok], sed: 1 }, 'sed: unknown key; did you mean "seed"? valid keys here: seed, maxTime, pcap, control, domains'],
    ['seed', { seed: -1, domains: [ok] }, 'seed: -1 is not a seed; use a whole number from 0 to 4294967295'],
    ['maxTime', { maxTime: '10', domains: [ok] }, 'maxTime: "10" has no unit; use e.g. 10s or 10ms'],
    ['maxTime type', { maxTime: 10, domains: [ok] }, 'maxTime: expected a duration such as "10s" or "500ms", got 10'],
    ['domains missing', {}, 'domains: missing; add a list of domains, each with at least an "image"'],
    ['domains empty', { domains: [] }, 'domains: expected a non-empty list of domains, got a list'],
    ['domains type', { domains: { image: 'a.wasm' } }, 'domains: expected a non-empty list of domains, got an object'],
    ['domain type', { domains: ['a.wasm'] }, 'domains[0]: expected an object with at least an "image", got "a.wasm"'],
    ['top level', [ok], 'expected an object with "domains", got a list'],
  ])('%s', (_what, value, problem) => {
    expect(problemsOf(value)).toEqual([problem]);
  });

  it('reports every problem at once, prefixed with the file name', () => {
    const text = JSON.stringify({ domains: [{ image: 'a.wasm', memory: '1X' }, { image: 'b.wasm', vcpus: 99 }] });
    expect(textProblems(text, 'run.json')).toEqual([
      'run.json: domains[0].memory: "1X" is not a size; use e.g. 64M or 1G',
      'run.json: domains[1].vcpus: 99 is not a vCPU count; use a whole number from 1 to 32',
    ]);
  });

  it('reports JSON syntax errors, with a line and column when the parser gives a position', () => {
    const [trailing] = textProblems('{\n  "domains": [],\n}', 'bad.json');
    expect(trailing).toBe('bad.json: not valid JSON: Expected double-quoted property name at line 3, column 1');
    expect(textProblems('{\n  "domains": [,]\n}', 'bad.json')).toEqual([`bad.json: not valid JSON: Unexpected token ','`]);
  });

  it('reports YAML syntax errors with a line', () => {
    const [problem] = textProblems('domains:\n  - image: a.wasm\n   name: x\n', 'bad.yaml');
    expect(problem).toMatch(/^bad\.yaml: not valid YAML: .*line 3/);
  });

  it('rejects duplicate YAML keys', () => {
    expect(textProblems('domains: []\ndomains: []\n', 'dup.yaml')[0]).toMatch(/^dup\.yaml: not valid YAML: .*unique/i);
  });
});
