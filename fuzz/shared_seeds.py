#!/usr/bin/env python3
"""shared_seeds.py TOKENIZERS_DIR OUT_DIR — run-time seeds cut from the shared tokenizer fixtures.

The fixtures are third-party files and stay out of the repository; fuzz/run.sh calls this to
write small slices of them under the build folder: a tokenizer.json keeping the first few hundred
vocabulary entries and the merges among them, a tiktoken file's first lines, GGUF vocabularies
re-encoded with their first tokens, and the conformance texts as encode inputs.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_seeds as ms  # noqa: E402

KEEP = 600


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def slice_hfjson(path):
    j = json.load(open(path, encoding="utf-8"))
    m = j["model"]
    keep = {t: i for t, i in m["vocab"].items() if i < KEEP}
    merges = []
    for mg in m.get("merges", []):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in keep and b in keep and a + b in keep:
            merges.append(mg)
    m["vocab"] = keep
    m["merges"] = merges
    j["added_tokens"] = [t for t in j.get("added_tokens", [])][:8]
    for i, t in enumerate(j["added_tokens"]):
        t["id"] = KEEP + i
    return json.dumps(j, ensure_ascii=False)


def slice_gguf(path):
    f = open(path, "rb").read()
    _, ver, nt, nkv = struct.unpack_from("<IIQQ", f, 0)
    off = 24

    def rstr(o):
        (n,) = struct.unpack_from("<Q", f, o)
        return f[o + 8:o + 8 + n], o + 8 + n

    def rval(t, o):
        if t == ms.STR:
            return rstr(o)
        if t == ms.ARR:
            at, n = struct.unpack_from("<IQ", f, o)
            o += 12
            items = []
            for _ in range(n):
                v, o = rval(at, o)
                items.append(v)
            return (at, items), o
        fmt = ms.SCALAR[t]
        return struct.unpack_from(fmt, f, o)[0], o + struct.calcsize(fmt)

    kvs = []
    for _ in range(nkv):
        k, off = rstr(off)
        (t,) = struct.unpack_from("<I", f, off)
        v, off = rval(t, off + 4)
        if t == ms.ARR and k.startswith(b"tokenizer.ggml.") and k != b"tokenizer.ggml.merges":
            v = (v[0], v[1][:KEEP])
        kvs.append((k, t, v))
    toks = next((v[1] for k, t, v in kvs if k == b"tokenizer.ggml.tokens"), [])
    have = set(toks)
    for i, (k, t, v) in enumerate(kvs):
        if k == b"tokenizer.ggml.merges":
            kept = [mg for mg in v[1] if len(mg.split(b" ", 1)) == 2 and
                    all(p in have for p in mg.split(b" ", 1)) and mg.replace(b" ", b"", 1) in have]
            kvs[i] = (k, t, (v[0], kept))
        elif isinstance(v, int) and k.endswith(b"_token_id") and v >= KEEP:
            kvs[i] = (k, t, 1)
    return ms.gguf(kvs, [], version=ver)


def main():
    src, out = sys.argv[1], sys.argv[2]
    p = os.path.join(src, "llama3-tokenizer.json")
    if os.path.exists(p):
        write(out, "tok_hfjson", "llama3-slice.json", slice_hfjson(p))
    p = os.path.join(src, "llama3-tokenizer.model")
    if os.path.exists(p):
        lines = open(p, "rb").read().split(b"\n")
        write(out, "tok_tiktoken", "llama3-head.tiktoken", b"\n".join(lines[:KEEP]) + b"\n")
    for name in ["gpt-2", "llama-spm", "phi-3"]:
        p = os.path.join(src, "ggml-vocab-%s.gguf" % name)
        if os.path.exists(p):
            write(out, "tok_gguf", "%s-slice.gguf" % name, slice_gguf(p))
    for name in ["gpt-2", "llama-spm", "phi-3", "llama-bpe"]:
        p = os.path.join(src, "ggml-vocab-%s.gguf.inp" % name)
        if os.path.exists(p):
            texts = open(p, "rb").read().split(b"\n__ggml_vocab_test__\n")
            for i, t in enumerate(texts[:40]):
                write(out, "tok_encode", "%s-%d.bin" % (name, i), bytes([i % 4, i % 4]) + t)


if __name__ == "__main__":
    main()
