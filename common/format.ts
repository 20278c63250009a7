// Sizes as GLib's g_format_size() prints them (GLib 2.74, what ostree 2022.7 shows):
// decimal units with one decimal and a no-break space before the unit ("1.2\u00a0kB"),
// "N bytes" (ngettext: "1 byte") below 1000.

/** g_format_size(bytes); `space` replaces the no-break space (plain text for our own messages). */
export function formatSize(bytes: number, space = '\u00a0'): string {
  if (bytes === 1) return '1 byte';
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(1)}${space}${units[i]}`;
}
