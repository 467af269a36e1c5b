/**
 * Device options of `pvisor run`: `--disk PATH[,ro][,size=SIZE]` and `domains[i].disks` in config
 * files — parsing and every validation message. No guest runs here.
 */
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../../src/cli/args.ts';
import { RUN } from '../../../src/cli/commands.ts';
import { parseConfigText, validateConfig } from '../../../src/cli/config.ts';
import { diskName, netName, parseConsoleText, parseDiskText, parseNetText } from '../../../src/cli/devices.ts';
import { planRun } from '../../../src/cli/plan.ts';
import { parseDiskSize } from '../../../src/cli/units.ts';

const M = 2 ** 20;

function plan(argv: string[]) {
  return planRun(parseArgs(argv, RUN.flags, 'pvisor run'), () => {
    throw new Error('no config here');
  });
}

function problem(argv: string[]): string {
  try {
    plan(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).problems.join('\n');
  }
  throw new Error('accepted');
}

function configProblems(value: unknown): string[] {
  const problems: string[] = [];
  validateConfig(value, '/cfg', problems);
  return problems;
}

describe('parseDiskSize', () => {
  it.each([
    ['64M', 64 * M],
    ['512', 512],
    ['1K', 1024],
    ['1.5K', 1536],
    ['2T', 2 * 2 ** 40],
  ])('%s is %d bytes', (text, bytes) => expect(parseDiskSize(text)).toBe(bytes));

  it.each([
    ['1000', '"1000" is not a multiple of 512 (the sector size); use 512 or 1K'],
    ['100', '"100" is not a multiple of 512 (the sector size); use 512'],
    ['0', '"0" is an empty disk; use e.g. 64M'],
    ['64MB', '"64MB" is ambiguous; sizes are binary here: write 64M or 64MiB'],
    ['big', '"big" is not a size; use e.g. 64M or 1G'],
  ])('refuses %s', (text, message) => expect(() => parseDiskSize(text)).toThrow(message));
});

describe('parseDiskText', () => {
  it('reads the path and the options, in any order', () => {
    expect(parseDiskText('d.img')).toEqual({ path: 'd.img', readOnly: false });
    expect(parseDiskText('d.img,ro')).toEqual({ path: 'd.img', readOnly: true });
    expect(parseDiskText('d.img,size=64M')).toEqual({ path: 'd.img', readOnly: false, createSize: 64 * M });
    expect(parseDiskText('a/b.img,size=1K,ro')).toEqual({ path: 'a/b.img', readOnly: true, createSize: 1024 });
  });

  it.each([
    ['d.img,rw', 'unknown option "rw"; valid options: ro, size=SIZE'],
    ['d.img,ro,ro', 'option "ro" is given twice; give it once'],
    ['d.img,size', 'size needs a value: size=SIZE, e.g. size=64M'],
    ['d.img,size=1000', 'size: "1000" is not a multiple of 512 (the sector size); use 512 or 1K'],
    [',ro', '",ro" has no path; write PATH[,ro][,size=SIZE], e.g. disk.img,size=64M'],
  ])('refuses %j', (text, message) => expect(parseDiskText(text)).toBe(message));

  it('names disks disk0, disk1, …', () => {
    expect([0, 1, 15].map(diskName)).toEqual(['disk0', 'disk1', 'disk15']);
  });
});

describe('--disk', () => {
  it('is repeatable and keeps the order', () => {
    const p = plan(['k.wasm', '--disk', 'a.img,size=1M', '--disk=b.img,ro']);
    expect(p.domains[0]?.disks).toEqual([
      { path: 'a.img', readOnly: false, createSize: M, origin: '--disk a.img', from: 'flag' },
      { path: 'b.img', readOnly: true, origin: '--disk b.img', from: 'flag' },
    ]);
  });

  it('adds nothing when not given', () => {
    expect(plan(['k.wasm']).domains[0]).not.toHaveProperty('disks');
  });

  it.each<[string[], string]>([
    [['k.wasm', '--disk', 'd.img,rw'], '--disk d.img,rw: unknown option "rw"; valid options: ro, size=SIZE'],
    [['k.wasm', '--disk', 'd.img,size=100'], '--disk d.img,size=100: size: "100" is not a multiple of 512 (the sector size); use 512'],
    [['k.wasm', '--disk', 'd.img', '--disk', 'e.img,size=0'], '--disk e.img,size=0: size: "0" is an empty disk; use e.g. 64M'],
    [['k.wasm', '--disk'], '--disk needs a value: --disk PATH[,ro][,size=SIZE]'],
    [['--config', 'c.yaml', '--disk', 'd.img'], '--disk cannot be used with --config; set "disks" for each domain in c.yaml'],
  ])('rejects %j', (argv, message) => expect(problem(argv)).toBe(message));

  it('is in the help, and suggested for QEMU spellings', () => {
    expect(RUN.flags.find((f) => f.name === 'disk')).toMatchObject({ value: 'PATH[,ro][,size=SIZE]', repeatable: true });
    try {
      parseArgs(['k.wasm', '--drive', 'x'], RUN.flags, 'pvisor run');
      throw new Error('accepted');
    } catch (err) {
      expect((err as UsageError).problems[0]).toBe('unknown flag --drive; did you mean --disk?');
    }
  });

  it('other flags still refuse repetition', () => {
    expect(() => parseArgs(['k.wasm', '--mem', '1M', '--mem', '2M'], RUN.flags, 'pvisor run')).toThrow('--mem is given twice');
  });
});

describe('domains[i].disks in config files', () => {
  it('takes strings and objects, resolving paths against the config directory', () => {
    const yaml = [
      'domains:',
      '  - image: a.wasm',
      '    disks:',
      '      - data.img,size=64M',
      '      - { path: /abs/base.img, ro: true }',
      '      - { path: scratch.img, size: 1048576 }',
    ].join('\n');
    const cfg = parseConfigText(yaml, { fileName: 'run.yaml', baseDir: '/cfg' });
    expect(cfg.domains[0]?.disks).toEqual([
      { path: '/cfg/data.img', readOnly: false, createSize: 64 * M, origin: 'run.yaml: domains[0].disks[0]', from: 'config' },
      { path: '/abs/base.img', readOnly: true, origin: 'run.yaml: domains[0].disks[1]', from: 'config' },
      { path: '/cfg/scratch.img', readOnly: false, createSize: M, origin: 'run.yaml: domains[0].disks[2]', from: 'config' },
    ]);
  });

  it('leaves a domain without disks as before', () => {
    const cfg = parseConfigText('{"domains":[{"image":"a.wasm"}]}', { fileName: 'a.json', baseDir: '/cfg' });
    expect(cfg.domains[0]).not.toHaveProperty('disks');
  });

  const img = { image: 'a.wasm' };
  it.each<[string, unknown, string]>([
    ['not a list', { domains: [{ ...img, disks: 'd.img' }] }, 'domains[0].disks: expected a list of disks, each "PATH[,ro][,size=SIZE]" or { path, ro, size }, got "d.img"'],
    ['bad option', { domains: [img, { image: 'b.wasm', disks: ['d.img', 'e.img,rw'] }] }, 'domains[1].disks[1]: unknown option "rw"; valid options: ro, size=SIZE'],
    ['bad string size', { domains: [{ ...img, disks: ['d.img,size=1000'] }] }, 'domains[0].disks[0]: size: "1000" is not a multiple of 512 (the sector size); use 512 or 1K'],
    ['bad object size', { domains: [{ ...img, disks: [{ path: 'd.img', size: 1000 }] }] }, 'domains[0].disks[0].size: "1000" is not a multiple of 512 (the sector size); use 512 or 1K'],
    ['size type', { domains: [{ ...img, disks: [{ path: 'd.img', size: true }] }] }, 'domains[0].disks[0].size: expected a size such as "64M" or "1G", got true'],
    ['ro type', { domains: [{ ...img, disks: [{ path: 'd.img', ro: 'yes' }] }] }, 'domains[0].disks[0].ro: expected true or false, got "yes"'],
    ['path missing', { domains: [{ ...img, disks: [{ ro: true }] }] }, 'domains[0].disks[0].path: missing; give the raw image file, relative to the config file'],
    ['path type', { domains: [{ ...img, disks: [{ path: 3 }] }] }, 'domains[0].disks[0].path: expected a path, got 3; give the raw image file, relative to the config file'],
    ['unknown key', { domains: [{ ...img, disks: [{ path: 'd.img', szie: '1M' }] }] }, 'domains[0].disks[0].szie: unknown key; did you mean "size"? valid keys here: path, ro, size'],
    ['entry type', { domains: [{ ...img, disks: [5] }] }, 'domains[0].disks[0]: expected "PATH[,ro][,size=SIZE]" or { path, ro, size }, got 5'],
  ])('%s', (_what, value, message) => expect(configProblems(value)).toEqual([message]));

  it('prefixes problems with the file name', () => {
    expect(() => parseConfigText('{"domains":[{"image":"a.wasm","disks":["d.img,rw"]}]}', { fileName: 'x.json', baseDir: '/' })).toThrow(
      'x.json: domains[0].disks[0]: unknown option "rw"; valid options: ro, size=SIZE',
    );
  });
});

describe('--net, --console, --pcap', () => {
  it('parses NICs: a switch name and an optional MAC, normalised', () => {
    expect(parseNetText('lan')).toEqual({ switch: 'lan' });
    expect(parseNetText('lan,mac=02:00:00:00:00:AA')).toEqual({ switch: 'lan', mac: '02:00:00:00:00:aa' });
    expect(parseNetText('lan,mac=02-00-00-00-00-01')).toEqual({ switch: 'lan', mac: '02:00:00:00:00:01' });
    expect(netName(1)).toBe('net1');
  });

  it.each([
    ['lan,mac=01:00:5e:00:00:01', 'mac: "01:00:5e:00:00:01" is a multicast address (the first byte is odd); a NIC needs a unicast one, e.g. 02:00:00:00:00:01'],
    ['lan,mac=02:00:00:00:00', 'mac: "02:00:00:00:00" is not a MAC address; write six hex bytes, e.g. 02:00:00:00:00:01'],
    ['lan,mac=2:0:0:0:0:1', 'mac: "2:0:0:0:0:1" is not a MAC address; write six hex bytes, e.g. 02:00:00:00:00:01'],
    ['lan,mac=00:00:00:00:00:00', 'mac: "00:00:00:00:00:00" is the all-zero address; use e.g. 02:00:00:00:00:01'],
    ['lan,mac', 'mac needs a value: mac=MAC, e.g. mac=02:00:00:00:00:01'],
    ['lan,vlan=3', 'unknown option "vlan=3"; valid options: mac=MAC'],
    ['my lan', '"my lan" is not a valid switch name; use 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit'],
    [',mac=02:00:00:00:00:01', '",mac=02:00:00:00:00:01" has no switch name; write SWITCH[,mac=MAC], e.g. lan or lan,mac=02:00:00:00:00:01'],
  ])('refuses --net %j', (text, message) => expect(parseNetText(text)).toBe(message));

  it('parses consoles', () => {
    expect(parseConsoleText('stdio')).toEqual({ kind: 'stdio' });
    expect(parseConsoleText('file:out/c.log')).toEqual({ kind: 'file', path: 'out/c.log' });
    expect(parseConsoleText('socket:/tmp/c.sock')).toEqual({ kind: 'socket', path: '/tmp/c.sock' });
    expect(parseConsoleText('tty')).toBe('"tty" is not a console; use stdio, file:PATH or socket:PATH');
    expect(parseConsoleText('file:')).toBe('"file:" has no path; write file:PATH');
  });

  it('plans NICs in order, a console and a capture', () => {
    const p = plan(['k.wasm', '--net', 'lan', '--net=wan,mac=02:00:00:00:00:09', '--console', 'socket:/tmp/k.sock', '--pcap', 'lan.pcap']);
    expect(p.domains[0]?.nets).toEqual([
      { switch: 'lan', origin: '--net lan' },
      { switch: 'wan', mac: '02:00:00:00:00:09', origin: '--net wan,mac=02:00:00:00:00:09' },
    ]);
    expect(p.domains[0]?.console).toEqual({ kind: 'socket', path: '/tmp/k.sock', origin: '--console socket:/tmp/k.sock' });
    expect(p.pcapFile).toBe('lan.pcap');
    expect(plan(['k.wasm'])).not.toHaveProperty('pcapFile');
    expect(plan(['k.wasm', '--console', 'stdio', '--console-input', 'ls\nquit\n']).domains[0]?.console).toEqual({ kind: 'stdio', origin: '--console stdio', input: 'ls\nquit\n' });
  });

  it.each<[string[], string]>([
    [['k.wasm', '--net', 'lan,mac=ff:ff:ff:ff:ff:ff'], '--net lan,mac=ff:ff:ff:ff:ff:ff: mac: "ff:ff:ff:ff:ff:ff" is a multicast address (the first byte is odd); a NIC needs a unicast one, e.g. 02:00:00:00:00:01'],
    [['k.wasm', '--console', 'pty'], '--console: "pty" is not a console; use stdio, file:PATH or socket:PATH'],
    [['k.wasm', '--console', 'stdio', '--console', 'stdio'], '--console is given twice ("stdio" and "stdio"); give it once'],
    [['k.wasm', '--pcap='], '--pcap: give a file name'],
    [['k.wasm', '--console-input', 'x'], '--console-input needs a console: add --console stdio (or file:PATH, socket:PATH)'],
    [['--config', 'c.yaml', '--console-input', 'x'], '--console-input cannot be used with --config; set "consoleInput" for each domain in c.yaml'],
    [['--config', 'c.yaml', '--net', 'lan'], '--net cannot be used with --config; set "net" for each domain in c.yaml'],
    [['--config', 'c.yaml', '--console', 'stdio'], '--console cannot be used with --config; set "console" for each domain in c.yaml'],
  ])('rejects %j', (argv, message) => expect(problem(argv)).toBe(message));

  it('reads net, console and pcap from config files, resolving paths', () => {
    const yaml = [
      'pcap: cap/lan.pcap',
      'domains:',
      '  - image: a.wasm',
      '    net: [lan, { switch: wan, mac: "02:00:00:00:00:0A" }]',
      '    console: file:a.log',
      '  - image: b.wasm',
      '    net: ["lan,mac=02:00:00:00:00:0b"]',
      '    console: stdio',
      '    consoleInput: "hi\\n"',
    ].join('\n');
    const cfg = parseConfigText(yaml, { fileName: 'run.yaml', baseDir: '/cfg' });
    expect(cfg.pcap).toBe('/cfg/cap/lan.pcap');
    expect(cfg.domains[0]?.nets).toEqual([
      { switch: 'lan', origin: 'run.yaml: domains[0].net[0]' },
      { switch: 'wan', mac: '02:00:00:00:00:0a', origin: 'run.yaml: domains[0].net[1]' },
    ]);
    expect(cfg.domains[0]?.console).toEqual({ kind: 'file', path: '/cfg/a.log', origin: 'run.yaml: domains[0].console' });
    expect(cfg.domains[1]?.console).toEqual({ kind: 'stdio', origin: 'run.yaml: domains[1].console', input: 'hi\n' });
    // --pcap overrides the file's pcap.
    const p = planRun(parseArgs(['--config', 'x.yaml', '--pcap', 'other.pcap'], RUN.flags, 'pvisor run'), () => cfg);
    expect(p.pcapFile).toBe('other.pcap');
    expect(planRun(parseArgs(['--config', 'x.yaml'], RUN.flags, 'pvisor run'), () => cfg).pcapFile).toBe('/cfg/cap/lan.pcap');
  });

  const img = { image: 'a.wasm' };
  it.each<[string, unknown, string]>([
    ['net not a list', { domains: [{ ...img, net: 'lan' }] }, 'domains[0].net: expected a list of NICs, each "SWITCH[,mac=MAC]" or { switch, mac }, got "lan"'],
    ['net string', { domains: [{ ...img, net: ['lan,mac=1'] }] }, 'domains[0].net[0]: mac: "1" is not a MAC address; write six hex bytes, e.g. 02:00:00:00:00:01'],
    ['net switch missing', { domains: [{ ...img, net: [{ mac: '02:00:00:00:00:01' }] }] }, 'domains[0].net[0].switch: missing; give the name of the switch to plug the NIC into'],
    ['net switch name', { domains: [{ ...img, net: [{ switch: 'a b' }] }] }, 'domains[0].net[0].switch: "a b" is not a valid switch name; use 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit'],
    ['net mac', { domains: [{ ...img, net: [{ switch: 'lan', mac: '03:00:00:00:00:01' }] }] }, 'domains[0].net[0].mac: "03:00:00:00:00:01" is a multicast address (the first byte is odd); a NIC needs a unicast one, e.g. 02:00:00:00:00:01'],
    ['net mac type', { domains: [{ ...img, net: [{ switch: 'lan', mac: 2 }] }] }, 'domains[0].net[0].mac: expected a MAC address such as "02:00:00:00:00:01", got 2'],
    ['net key', { domains: [{ ...img, net: [{ switch: 'lan', mca: '02:00:00:00:00:01' }] }] }, 'domains[0].net[0].mca: unknown key; did you mean "mac"? valid keys here: switch, mac'],
    ['net entry', { domains: [{ ...img, net: [null] }] }, 'domains[0].net[0]: expected "SWITCH[,mac=MAC]" or { switch, mac }, got null'],
    ['console', { domains: [{ ...img, console: 'serial' }] }, 'domains[0].console: "serial" is not a console; use stdio, file:PATH or socket:PATH'],
    ['console type', { domains: [{ ...img, console: true }] }, 'domains[0].console: expected "stdio", "file:PATH" or "socket:PATH", got true'],
    ['pcap type', { pcap: 1, domains: [img] }, 'pcap: expected a file name, got 1'],
    ['consoleInput type', { domains: [{ ...img, console: 'stdio', consoleInput: 3 }] }, 'domains[0].consoleInput: expected a string (the bytes typed into console0), got 3'],
    ['consoleInput without console', { domains: [{ ...img, consoleInput: 'x' }] }, 'domains[0].consoleInput: needs a console; add "console": "stdio" (or file:PATH, socket:PATH)'],
  ])('%s', (_what, value, message) => expect(configProblems(value)).toEqual([message]));
});
