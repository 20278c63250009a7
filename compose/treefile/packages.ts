// Package list entries as rpm-ostree reads them: each entry is split on whitespace, except
// inside single quotes, so `"a b"` is two packages and `"'podman >= 4.1' skopeo"` is a
// version query plus a name (rust/src/treefile.rs `split_whitespace_unless_quoted`).

/**
 * Splits one `packages` entry. Returns the package specs, or a message when a quote is not
 * closed (rpm-ostree: "Missing terminating quote") or a quoted spec is empty.
 */
export function splitPackageEntry(entry: string): string[] | { error: string } {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < entry.length; i++) {
    if (entry[i] !== "'") continue;
    if (quoted) {
      const spec = entry.slice(start, i);
      if (spec.trim() === '') return { error: `empty quoted package spec in ${JSON.stringify(entry)}` };
      out.push(spec);
    } else {
      out.push(...splitWhitespace(entry.slice(start, i)));
    }
    quoted = !quoted;
    start = i + 1;
  }
  if (quoted) return { error: `missing terminating quote: ${entry}` };
  out.push(...splitWhitespace(entry.slice(start)));
  return out;
}

/** Rust's `str::split_whitespace`: Unicode White_Space separators, no empty pieces. */
function splitWhitespace(s: string): string[] {
  return s.split(/[\s\u0085]+/u).filter((p) => p !== '');
}
