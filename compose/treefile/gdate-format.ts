// GLib's g_date_time_format() for a UTC time in the C locale: the strftime subset rpm-ostree's
// `<date:FORMAT>` version tags are rendered with. Unsupported conversions (%D, %U, %W, %E…)
// make GLib return NULL; here they return undefined so the caller can raise an error.

const WEEKDAY_ABBR = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const WEEKDAY_FULL = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_ABBR = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_FULL = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

// C-locale preferred formats (nl_langinfo D_T_FMT, D_FMT, T_FMT, T_FMT_AMPM).
const PREFERRED_DATE_TIME = '%a %b %e %H:%M:%S %Y';
const PREFERRED_DATE = '%m/%d/%y';
const PREFERRED_TIME = '%H:%M:%S';
const PREFERRED_12HR = '%I:%M:%S %p';

/** ISO 8601 week number and week-numbering year of a UTC date. */
function isoWeek(d: Date): { week: number; year: number } {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7; // Monday = 1 … Sunday = 7
  t.setUTCDate(t.getUTCDate() + 4 - dow); // the Thursday of this week decides the year
  const year = t.getUTCFullYear();
  const week = Math.floor((t.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return { week, year };
}

function dayOfYear(d: Date): number {
  return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

/** GLib's format_number: `pad` repeated up to `width` digits ("" = no padding). */
function num(n: number, pad: string, width: number): string {
  const s = String(n);
  return pad === '' || s.length >= width ? s : pad.repeat(width - s.length) + s;
}

/** Formats `date` (as UTC) like g_date_time_format(); undefined for an unsupported format. */
export function formatGDateTime(date: Date, format: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    if (i >= format.length) break; // a trailing '%' is dropped, as GLib does
    let pad: string | undefined;
    let colons = 0;
    let done = false;
    while (!done) {
      const c = format[i++];
      const p = (dflt: string): string => pad ?? dflt;
      done = true;
      switch (c) {
        case 'a': out += WEEKDAY_ABBR[date.getUTCDay()]; break;
        case 'A': out += WEEKDAY_FULL[date.getUTCDay()]; break;
        case 'b': case 'h': out += MONTH_ABBR[date.getUTCMonth()]; break;
        case 'B': out += MONTH_FULL[date.getUTCMonth()]; break;
        case 'c': out += formatGDateTime(date, PREFERRED_DATE_TIME)!; break;
        case 'C': out += num(Math.floor(date.getUTCFullYear() / 100), p('0'), 2); break;
        case 'd': out += num(date.getUTCDate(), p('0'), 2); break;
        case 'e': out += num(date.getUTCDate(), p(' '), 2); break;
        case 'F': out += `${date.getUTCFullYear()}-${num(date.getUTCMonth() + 1, '0', 2)}-${num(date.getUTCDate(), '0', 2)}`; break;
        case 'g': out += num(isoWeek(date).year % 100, p('0'), 2); break;
        case 'G': out += String(isoWeek(date).year); break;
        case 'H': out += num(date.getUTCHours(), p('0'), 2); break;
        case 'I': out += num((date.getUTCHours() + 11) % 12 + 1, p('0'), 2); break;
        case 'j': out += num(dayOfYear(date), p('0'), 3); break;
        case 'k': out += num(date.getUTCHours(), p(' '), 2); break;
        case 'l': out += num((date.getUTCHours() + 11) % 12 + 1, p(' '), 2); break;
        case 'm': out += num(date.getUTCMonth() + 1, p('0'), 2); break;
        case 'M': out += num(date.getUTCMinutes(), p('0'), 2); break;
        case 'n': out += '\n'; break;
        case 'p': out += date.getUTCHours() < 12 ? 'AM' : 'PM'; break;
        case 'P': out += date.getUTCHours() < 12 ? 'am' : 'pm'; break;
        case 'r': out += formatGDateTime(date, PREFERRED_12HR)!; break;
        case 'R': out += `${num(date.getUTCHours(), '0', 2)}:${num(date.getUTCMinutes(), '0', 2)}`; break;
        case 's': out += String(Math.floor(date.getTime() / 1000)); break;
        case 'S': out += num(date.getUTCSeconds(), p('0'), 2); break;
        case 't': out += '\t'; break;
        case 'T': out += `${num(date.getUTCHours(), '0', 2)}:${num(date.getUTCMinutes(), '0', 2)}:${num(date.getUTCSeconds(), '0', 2)}`; break;
        case 'u': out += String(date.getUTCDay() || 7); break;
        case 'V': out += num(isoWeek(date).week, p('0'), 2); break;
        case 'w': out += String(date.getUTCDay()); break;
        case 'x': out += formatGDateTime(date, PREFERRED_DATE)!; break;
        case 'X': out += formatGDateTime(date, PREFERRED_TIME)!; break;
        case 'y': out += num(date.getUTCFullYear() % 100, p('0'), 2); break;
        case 'Y': out += String(date.getUTCFullYear()); break;
        case 'z': out += ['+0000', '+00:00', '+00:00:00', '+00'][colons] ?? ''; if (colons > 3) return undefined; break;
        case 'Z': out += 'UTC'; break;
        case '%': out += '%'; break;
        // Modifiers: alternative digits (none in the C locale), padding overrides, colons for %z.
        case 'O': done = false; break;
        case '-': pad = ''; done = false; break;
        case '_': pad = ' '; done = false; break;
        case '0': pad = '0'; done = false; break;
        case ':':
          if (i < format.length && format[i] !== 'z' && format[i] !== ':') return undefined;
          colons++;
          done = false;
          break;
        case undefined: return undefined; // format ended after modifiers, as GLib rejects
        default: return undefined;
      }
    }
  }
  return out;
}
