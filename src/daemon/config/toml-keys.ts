// Key paths in TOML source text: the line that assigns each (smol-toml reports no positions for
// values, so error messages find their line here), and how to write one. Table headers set the
// current table; `key = …` lines (dotted or quoted keys too) name a field.

export interface KeyLine {
  /** Full dotted path of the header or key, e.g. ['profiles', 'acme', 'flow']. */
  path: string[];
  /** 1-based line number. */
  line: number;
  header: boolean;
  /** Offset in the line just after the `=` (key lines only). */
  valueStart: number;
}

export function scanKeyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  let table: string[] = [];
  let inMultiline: '"""' | "'''" | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const raw = (lines[n] ?? '').replace(/\r$/, '');
    if (inMultiline) {
      if (countOf(raw, inMultiline) % 2 === 1) inMultiline = undefined;
      continue;
    }
    const indent = raw.length - raw.replace(/^[\s\uFEFF]+/, '').length;
    const first = raw[indent];
    if (first === '[') {
      const isArray = raw[indent + 1] === '[';
      const parsed = parseKeyPath(raw, indent + (isArray ? 2 : 1));
      if (parsed) {
        const close = isArray ? ']]' : ']';
        const after = raw.slice(parsed.end).trimStart();
        if (after.startsWith(close) && /^\s*(#.*)?$/.test(after.slice(close.length))) {
          table = parsed.segments;
          out.push({ path: table, line: n + 1, header: true, valueStart: 0 });
          continue;
        }
      }
    }
    const parsed = parseKeyPath(raw, indent);
    if (parsed && raw[parsed.end] === '=') {
      const valueStart = parsed.end + 1;
      out.push({ path: [...table, ...parsed.segments], line: n + 1, header: false, valueStart });
      const rest = raw.slice(valueStart);
      for (const delim of ['"""', "'''"] as const) {
        if (countOf(rest, delim) % 2 === 1) inMultiline = delim;
      }
    }
  }
  return out;
}

/**
 * The line of a field: where it is assigned; else (a table) its header or first key;
 * else the nearest enclosing table that appears in the file; else undefined.
 */
export function locate(lines: KeyLine[], field: string[]): number | undefined {
  const exact = lines.find((l) => samePath(l.path, field));
  if (exact) return exact.line;
  const inside = lines.find((l) => startsWith(l.path, field));
  if (inside) return inside.line;
  for (let k = field.length - 1; k >= 1; k--) {
    const prefix = field.slice(0, k);
    const enclosing = lines.find((l) => samePath(l.path, prefix)) ?? lines.find((l) => startsWith(l.path, prefix));
    if (enclosing) return enclosing.line;
  }
  return undefined;
}

export function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((seg, i) => seg === b[i]);
}

/** One key segment as TOML writes it: bare when it can be, else quoted. */
export function tomlKey(segment: string): string {
  return /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
}

/** A key path as TOML writes it, e.g. profiles."a.b".flow. */
export function dotted(field: string[]): string {
  return field.map(tomlKey).join('.');
}

function countOf(s: string, needle: string): number {
  return s.split(needle).length - 1;
}

/** Parses `a . "b c" . 'd'` from offset i; `end` is just past trailing whitespace. */
function parseKeyPath(s: string, i: number): { segments: string[]; end: number } | undefined {
  const segments: string[] = [];
  for (;;) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) return undefined;
      const raw = s.slice(i, j + 1);
      let decoded: string;
      try {
        decoded = JSON.parse(raw) as string;
      } catch {
        decoded = raw.slice(1, -1);
      }
      segments.push(decoded);
      i = j + 1;
    } else if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return undefined;
      segments.push(s.slice(i + 1, j));
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return undefined;
      segments.push(m[0]);
      i += m[0].length;
    }
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] !== '.') return { segments, end: i };
    i++;
  }
}

function startsWith(path: string[], prefix: string[]): boolean {
  return path.length >= prefix.length && prefix.every((seg, i) => seg === path[i]);
}
