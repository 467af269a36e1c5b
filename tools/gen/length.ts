/**
 * Length expressions of pointer arguments (`"nr_ports * 4"`, `"sizeof(wallclock)"`).
 * Grammar, deliberately tiny so host, model and docs agree on what a range is:
 * ```
 * expr   := term ('+' term)*
 * term   := factor ('*' factor)*
 * factor := INTEGER | ARG_NAME | 'sizeof' '(' STRUCT_NAME ')'
 * ```
 * @module
 */

/** Parsed expression. */
export type LengthExpr =
  | { kind: 'int'; value: number }
  | { kind: 'arg'; name: string }
  | { kind: 'sizeof'; struct: string }
  | { kind: 'add' | 'mul'; left: LengthExpr; right: LengthExpr };

/** Parse result: the tree, or the first problem found. */
export type ParseResult = { ok: true; expr: LengthExpr } | { ok: false; error: string };

const TOKEN = /\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|([*+()]))/y;

/**
 * Parses `src`, accepting only names in `args` (the call's non-pointer arguments) and
 * `sizeof(s)` for s in `structs`.
 */
export function parseLength(
  src: string,
  args: ReadonlySet<string>,
  structs: ReadonlySet<string>,
): ParseResult {
  const toks: string[] = [];
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) {
      const at = pos + (src.length - pos - src.slice(pos).trimStart().length);
      return { ok: false, error: `unexpected character '${src[at] ?? ''}' at column ${at + 1}` };
    }
    toks.push(m[1] ?? m[2] ?? m[3] ?? '');
    pos = TOKEN.lastIndex;
  }
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(msg);
  };
  const factor = (): LengthExpr => {
    const t = toks[i++];
    if (t === undefined) return fail('expression ends early');
    if (/^\d+$/.test(t)) {
      const value = Number(t);
      if (!Number.isSafeInteger(value)) fail(`integer ${t} is too large`);
      return { kind: 'int', value };
    }
    if (t === 'sizeof') {
      if (toks[i++] !== '(') fail("'sizeof' must be followed by '('");
      const s = toks[i++];
      if (s === undefined || !/^[A-Za-z_]/.test(s)) fail('sizeof needs a struct name');
      if (toks[i++] !== ')') fail("sizeof(...) is missing ')'");
      if (!structs.has(s!)) fail(`sizeof(${s}) names no struct`);
      return { kind: 'sizeof', struct: s! };
    }
    if (/^[A-Za-z_]/.test(t)) {
      if (!args.has(t)) fail(`'${t}' is not an integer argument of this call`);
      return { kind: 'arg', name: t };
    }
    return fail(`unexpected '${t}'`);
  };
  const term = (): LengthExpr => {
    let left = factor();
    while (toks[i] === '*') {
      i++;
      left = { kind: 'mul', left, right: factor() };
    }
    return left;
  };
  try {
    let expr = term();
    while (toks[i] === '+') {
      i++;
      expr = { kind: 'add', left: expr, right: term() };
    }
    if (i < toks.length) fail(`unexpected '${toks[i]}'`);
    return { ok: true, expr };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * Renders `e` as a TypeScript expression; `argRef(name)` gives the code that reads an argument
 * and `sizeRef(struct)` the code for a struct's size.
 */
export function lengthToTs(
  e: LengthExpr,
  argRef: (name: string) => string,
  sizeRef: (struct: string) => string,
): string {
  switch (e.kind) {
    case 'int':
      return String(e.value);
    case 'arg':
      return argRef(e.name);
    case 'sizeof':
      return sizeRef(e.struct);
    case 'mul':
      // No parentheses in the grammar, so a product never contains a sum.
      return `${lengthToTs(e.left, argRef, sizeRef)} * ${lengthToTs(e.right, argRef, sizeRef)}`;
    case 'add':
      return `${lengthToTs(e.left, argRef, sizeRef)} + ${lengthToTs(e.right, argRef, sizeRef)}`;
  }
}
