// kernels.mjs — the WGSL kernels as the backend sees them, from the kernels/ directory:
//   kernels/<name>.wgsl          -> kernel <name> (as is; rope.wgsl followed by kernels/sincos.wgsl,
//                                   rms_norm.wgsl and attention.wgsl by kernels/pack_q8.wgsl)
//   kernels/weights/<type>.wgsl  -> kernel weights_<type>: that file, kernels/pack_q8.wgsl, then
//                                   kernels/weights_common.wgsl (pack_q8.wgsl in every form below too)
//                                   (WGSL module-scope declarations may come in any order)
//   kernels/weights/i8/<type>.wgsl -> also kernel weights_<type>_i8: <type>.wgsl, i8/<type>.wgsl,
//                                   kernels/weights_i8.wgsl, sincos.wgsl and weights_rope.wgsl (its
//                                   nmatvec3_rope over 8-bit x), then weights_common.wgsl with its calls
//                                   of dot_unit renamed dot_unit_i8 (products over 8-bit x; where
//                                   the i8 file defines wd, the weights are bound as vec4<u32>
//                                   arrays and <type>.wgsl and weights_common.wgsl read them through
//                                   it, the products in units of its UNIT_I8);
//                                   and kernel weights_<type>_i8p (matvec_pack): the same with
//                                   kernels/weights_i8p.wgsl in place of weights_i8.wgsl, x packed by
//                                   every workgroup into its own memory (the i8 file's xq / xq4 reads
//                                   and pack_q8.wgsl's outq stores go there, weights_common.wgsl's
//                                   x_part calls become xq_part);
//                                   and kernels weights_<type>_sg, weights_<type>_i8_sg,
//                                   weights_<type>_i8p_sg: `enable
//                                   subgroups;`, the same files with kernels/weights_sg.wgsl before
//                                   weights_common.wgsl, its calls of reduce_rows renamed reduce_rows_sg
//                                -> kernel weights_<type>_n (and weights_<type>_n_sg where the type has
//                                   an i8 file): the rms_norm folded into the decode products,
//                                   kernels/weights_norm.wgsl, sincos.wgsl and weights_rope.wgsl
//                                   (q/k/v with the rotary embedding and the KV cache writes) before
//                                   weights_common.wgsl, the calls of x_at, x_at4, x_part, x_scale in
//                                   it and the type's file renamed x_norm, x_norm4, norm_part, norm_scale
// Each kernel: { name, text, parts: [{ file, first, lines }] } (parts map a line of text back to
// its file: line L of the text is line L - first + 1 of file, for first <= L < first + lines).
import fs from 'node:fs';
import path from 'node:path';

const COMMON = 'weights_common.wgsl';
const I8 = 'weights_i8.wgsl';
const SG = 'weights_sg.wgsl';
const NORM = 'weights_norm.wgsl';
const ROPE = 'weights_rope.wgsl';
const SINCOS = 'sincos.wgsl';
const PACK = 'pack_q8.wgsl';
const I8P = 'weights_i8p.wgsl';

export function kernelSources(dir) {
  const wgsl = (d) => fs.readdirSync(d).filter((f) => f.endsWith('.wgsl')).sort();
  const read = (f) => fs.readFileSync(f, 'utf8');
  const nlines = (t) => t.split('\n').length - (t.endsWith('\n') ? 1 : 0);
  const out = [];
  const nl = (t) => (t.endsWith('\n') ? t : t + '\n');
  // one kernel from files [file, text] in order
  const join = (name, files) => {
    const parts = [];
    let text = '';
    for (const [file, t] of files) {
      parts.push({ file, first: text.split('\n').length, lines: nlines(nl(t)) });
      text += nl(t);
    }
    out.push({ name, text, parts });
  };
  const sincos = [`kernels/${SINCOS}`, read(path.join(dir, SINCOS))];
  const pack = [`kernels/${PACK}`, read(path.join(dir, PACK))];
  for (const f of wgsl(dir)) {
    if ([COMMON, I8, SG, NORM, ROPE, SINCOS, PACK, I8P].includes(f)) continue;
    const text = read(path.join(dir, f));
    if (f === 'rope.wgsl') join('rope', [[`kernels/${f}`, text], sincos]);
    else if (f === 'rms_norm.wgsl' || f === 'attention.wgsl') join(f.slice(0, -5), [[`kernels/${f}`, text], pack]);
    else out.push({ name: f.slice(0, -5), text, parts: [{ file: `kernels/${f}`, first: 1, lines: nlines(text) }] });
  }
  const wdir = path.join(dir, 'weights');
  if (fs.existsSync(wdir)) {
    const common = read(path.join(dir, COMMON));
    const i8dir = path.join(wdir, 'i8');
    const i8 = [`kernels/${I8}`, read(path.join(dir, I8))];
    const sg = [`kernels/${SG}`, read(path.join(dir, SG))];
    const enableSg = ['(generated)', 'enable subgroups;'];
    const renamed = (dotUnit, reduce) => [`kernels/${COMMON}`,
      common.replace(/\bdot_unit\(/g, dotUnit).replace(/(?<!fn )\breduce_rows\(/g, reduce)];
    // [file, text] with the calls (not the definitions) of x_at, x_at4, x_part, x_scale renamed
    const normed = ([file, t]) => [file, t.replace(/(?<!fn )\b(x_at4?|x_part|x_scale)\(/g,
      (_, f) => ({ x_at: 'x_norm(', x_at4: 'x_norm4(', x_part: 'norm_part(', x_scale: 'norm_scale(' })[f])];
    // [file, text] for a weights_<type>_i8 kernel whose weights are vec4<u32> arrays: W, W2, W3 and
    // the weight pointers retyped, word reads (*w)[i] through the i8 file's wd(w, i), and the
    // products' unit UNIT_I8 (the i8 file's) instead of the type's UNIT
    const words4 = ([file, t]) => [file, t
      .replace(/ptr<storage, array<u32>, read>/g, 'ptr<storage, array<vec4<u32>>, read>')
      .replace(/(var<storage, read> W[23]?): array<u32>;/g, '$1: array<vec4<u32>>;')
      .replace(/\(\*w\)\[([^\[\]]+)\]/g, 'wd(w, $1)')
      .replace(/\bp\.k \/ UNIT\b/g, 'p.k / UNIT_I8')];
    // [file, text] for a weights_<type>_i8p kernel: x's blocks in workgroup memory
    // (kernels/weights_i8p.wgsl), the line numbers kept
    const i8p = [`kernels/${I8P}`, read(path.join(dir, I8P))];
    const packed = ([file, t]) => [file, t
      .replace(/^@group\(0\) @binding\(3\) var<storage, read> xq4:[^\n]*$/m, '// (xq4: workgroup memory, kernels/weights_i8p.wgsl)')
      .replace(/\bxq\[([^\[\]]+)\]/g, 'xq_word($1)')
      .replace(/\boutq\[([^\[\]]+)\] = ([^;]+);/g, 'xq_put($1, $2);')
      .replace(/(?<!fn )\bx_part\(/g, 'xq_part(')];
    const norm = [`kernels/${NORM}`, read(path.join(dir, NORM))];
    const rope = [`kernels/${ROPE}`, read(path.join(dir, ROPE))];
    for (const f of wgsl(wdir)) {
      const name = `weights_${f.slice(0, -5)}`;
      const type = [`kernels/weights/${f}`, read(path.join(wdir, f))];
      join(name, [type, pack, [`kernels/${COMMON}`, common]]);
      join(`${name}_n`, [normed(type), norm, sincos, rope, pack, normed([`kernels/${COMMON}`, common])]);
      if (!fs.existsSync(path.join(i8dir, f))) continue;
      join(`${name}_n_sg`, [enableSg, normed(type), sg, norm, sincos, rope, pack, normed(renamed('dot_unit(', 'reduce_rows_sg('))]);
      const i8type = [`kernels/weights/i8/${f}`, read(path.join(i8dir, f))];
      // an i8 file defining wd reads the weights by fours: vec4 words in its kernels (words4)
      const w4 = /\bfn wd\(/.test(i8type[1]) ? words4 : (x) => x;
      join(`${name}_i8`, [w4(type), i8type, i8, sincos, rope, pack, w4(renamed('dot_unit_i8(', 'reduce_rows('))]);
      join(`${name}_i8p`, [w4(type), packed(i8type), i8p, sincos, rope, packed(pack),
                           w4(packed(renamed('dot_unit_i8(', 'reduce_rows(')))]);
      join(`${name}_i8p_sg`, [enableSg, w4(type), packed(i8type), i8p, sg, sincos, rope, packed(pack),
                              w4(packed(renamed('dot_unit_i8(', 'reduce_rows_sg(')))]);
      join(`${name}_sg`, [enableSg, type, sg, pack, renamed('dot_unit(', 'reduce_rows_sg(')]);
      join(`${name}_i8_sg`, [enableSg, w4(type), i8type, i8, sg, sincos, rope, pack, w4(renamed('dot_unit_i8(', 'reduce_rows_sg('))]);
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// "file:line" of line `line` (1-based) of kernel k's text
export function kernelLine(k, line) {
  const p = k.parts.find((q) => line >= q.first && line < q.first + q.lines) ?? k.parts[0];
  return `${p.file}:${line - p.first + 1}`;
}
