// kernels.mjs — the WGSL kernels as the backend sees them, from the kernels/ directory:
//   kernels/<name>.wgsl          -> kernel <name> (as is)
//   kernels/weights/<type>.wgsl  -> kernel weights_<type>: that file, then kernels/weights_common.wgsl
//                                   (WGSL module-scope declarations may come in any order)
// Each kernel: { name, text, parts: [{ file, first, lines }] } (parts map a line of text back to
// its file: line L of the text is line L - first + 1 of file, for first <= L < first + lines).
import fs from 'node:fs';
import path from 'node:path';

const COMMON = 'weights_common.wgsl';

export function kernelSources(dir) {
  const wgsl = (d) => fs.readdirSync(d).filter((f) => f.endsWith('.wgsl')).sort();
  const read = (f) => fs.readFileSync(f, 'utf8');
  const nlines = (t) => t.split('\n').length - (t.endsWith('\n') ? 1 : 0);
  const out = [];
  for (const f of wgsl(dir)) {
    if (f === COMMON) continue;
    const text = read(path.join(dir, f));
    out.push({ name: f.slice(0, -5), text, parts: [{ file: `kernels/${f}`, first: 1, lines: nlines(text) }] });
  }
  const wdir = path.join(dir, 'weights');
  if (fs.existsSync(wdir)) {
    const common = read(path.join(dir, COMMON));
    for (const f of wgsl(wdir)) {
      const type = read(path.join(wdir, f));
      const t = type.endsWith('\n') ? type : type + '\n';
      out.push({
        name: `weights_${f.slice(0, -5)}`,
        text: t + common,
        parts: [{ file: `kernels/weights/${f}`, first: 1, lines: nlines(t) },
                { file: `kernels/${COMMON}`, first: nlines(t) + 1, lines: nlines(common) }],
      });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// "file:line" of line `line` (1-based) of kernel k's text
export function kernelLine(k, line) {
  const p = k.parts.find((q) => line >= q.first && line < q.first + q.lines) ?? k.parts[0];
  return `${p.file}:${line - p.first + 1}`;
}
