/**
 * Help texts, rendered from the command tables in `commands.ts`.
 * @module
 */
import type { FlagSpec } from './args.ts';
import { COMMANDS, GLOBAL_FLAGS, type CommandSpec } from './commands.ts';

/** Help for `pvisor` itself: what it is, the commands, the global flags. */
export function mainHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `pvisor ${version} - run paravirtualized guest kernels compiled to WebAssembly`,
    '',
    'Usage:',
    '  pvisor COMMAND [ARGS...]',
    '  pvisor --help | --version',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Flags:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'Run "pvisor help COMMAND" or "pvisor COMMAND --help" for the flags of a command.',
    '',
  ].join('\n');
}

/** Help for one command: usage, description, flags with defaults, examples. */
export function commandHelp(cmd: CommandSpec): string {
  const lines = ['Usage:', ...cmd.usage.map((u) => `  pvisor ${u}`), ''];
  for (const p of cmd.description) lines.push(...wrap(p, 78), '');
  lines.push('Flags:', ...flagLines(cmd.flags), '');
  if (cmd.examples.length > 0) {
    lines.push('Examples:');
    for (const [example, comment] of cmd.examples) lines.push(`  pvisor ${example}`, `      ${comment}`);
    lines.push('');
  }
  return lines.join('\n');
}

function flagLines(flags: readonly FlagSpec[]): string[] {
  const left = flags.map((f) => {
    const short = f.short !== undefined ? `-${f.short}, ` : '    ';
    return `  ${short}--${f.name}${f.value !== undefined ? ` ${f.value}` : ''}`;
  });
  const width = Math.max(...left.map((l) => l.length));
  return flags.map((f, i) => {
    const dflt = f.default !== undefined ? ` (default: ${f.default})` : '';
    return `${(left[i] as string).padEnd(width)}  ${f.help}${dflt}`;
  });
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') out.push(line);
  return out;
}
