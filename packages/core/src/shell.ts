/** A word to paste into a POSIX shell: as it is when plain, else single-quoted (so `$(...)` stays text). */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
