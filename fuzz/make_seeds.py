#!/usr/bin/env python3
"""make_seeds.py — writes the committed seed inputs of the fuzz targets (fuzz/<target>/seeds/).

Seeds are small files that reach deep into each parser: synthetic files written here, the
project's own fixture configs (hf-tiny config.json), and RDRR manifests written by Doppler's own
converter (pass --tool build/doppler; skipped otherwise). Nothing third-party is copied: the
tokenizer seeds are synthetic vocabularies; run.sh adds slices of ../shared/fixtures/tokenizers
at run time when that folder exists.

usage: python3 fuzz/make_seeds.py [--tool PATH_TO_DOPPLER] [--shared ../shared]
"""
import argparse
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, target, "seeds")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors -------------------------------------------------------------------------

ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4}


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape)."""
    hdr, off, data = {}, 0, b""
    if metadata is not None:
        hdr["__metadata__"] = metadata
    for name, dt, shape in tensors:
        n = ST_SIZE[dt]
        for s in shape:
            n *= s
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes((off + i) * 37 & 0xFF for i in range(n))
        off += n
    h = json.dumps(hdr, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


# ---- gguf --------------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
GGML = {0: (1, 4), 1: (1, 2), 8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210),
        30: (1, 2)}


def gstr(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        at, items = v
        return struct.pack("<IQ", at, len(items)) + b"".join(gval(at, x) for x in items)
    return struct.pack(SCALAR[t], v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: list of (key, type, value); tensors: list of (name, ne list, ggml type)."""
    b = struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kvs))
    for k, t, v in kvs:
        b += gstr(k) + struct.pack("<I", t) + gval(t, v)
    off, blobs = 0, []
    for name, ne, gt in tensors:
        per, size = GGML[gt]
        n = ne[0] // per * size
        for d in ne[1:]:
            n *= d
        b += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        b += struct.pack("<IQ", gt, off)
        blobs.append((off, n))
        off += (n + alignment - 1) // alignment * alignment
    b += b"\0" * ((alignment - len(b) % alignment) % alignment)
    data = bytearray(off)
    for o, n in blobs:
        for i in range(n):
            data[o + i] = (o + i) * 13 & 0x7F  # small values: f16/bf16/f32 stay finite
    return b + bytes(data)


# ---- synthetic tokenizers ----------------------------------------------------------------

def bytelevel_alphabet():
    """GPT-2's byte -> printable character map."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


WORDS = ["the", "hello", "world", "tok", "en", "izer", "ing", "er", "in", "on", "an", "re",
         "12", "345", "\u00e9t\u00e9", "\u4e16\u754c", "don't", "  ", "\n\n"]


def bpe_vocab():
    """A byte-level BPE vocabulary: the 256 bytes, then merges building WORDS (and ' ' + WORDS)."""
    alpha = bytelevel_alphabet()
    vocab = [alpha[b] for b in range(256)]
    merges = []
    index = {t: i for i, t in enumerate(vocab)}
    for w in WORDS + [" " + w for w in WORDS if w.strip()]:
        enc = "".join(alpha[b] for b in w.encode("utf-8"))
        cur = enc[0]
        for ch in enc[1:]:
            new = cur + ch
            if new not in index:
                merges.append((cur, ch))
                index[new] = len(vocab)
                vocab.append(new)
            cur = new
    return vocab, merges


def tokenizer_json_bpe():
    vocab, merges = bpe_vocab()
    n = len(vocab)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                "<|end_header_id|>"]
    added = [{"id": n + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(specials)]
    added.append({"id": n + len(specials), "content": "<tool>", "single_word": False,
                  "lstrip": True, "rstrip": False, "normalized": False, "special": False})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": {t: i for i, t in enumerate(vocab)},
                  "merges": [a + " " + b for a, b in merges]},
    }


def spm_vocab():
    """A SentencePiece-BPE vocabulary with byte fallback: <unk> <s> </s>, 256 <0xXX>, pieces."""
    toks = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    toks += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    pieces = []
    for w in WORDS:
        w = w.replace(" ", "\u2581")
        for i in range(1, len(w) + 1):
            for p in (w[:i], "\u2581" + w[:i]):
                if p not in pieces:
                    pieces.append(p)
    for ch in "\u2581abcdefghijklmnopqrstuvwxyz":
        if ch not in pieces:
            pieces.append(ch)
    pieces.sort(key=len)
    toks += [(p, -float(i), 1) for i, p in enumerate(pieces)]
    return toks


def tokenizer_json_spm():
    toks = spm_vocab()
    vocab = {t: i for i, (t, _, _) in enumerate(toks)}
    merges = []
    for t, _, ty in toks:
        if ty == 1 and len(t) > 1:
            for k in range(1, len(t)):
                if t[:k] in vocab and t[k:] in vocab:
                    merges.append(t[:k] + " " + t[k:])
                    break
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, (t, _, _) in enumerate(toks[:3])]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ",
                                                         "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def tiktoken_file():
    """base64(token) rank: the 256 bytes then merged words, in rank order."""
    alpha = bytelevel_alphabet()
    inv = {c: b for b, c in alpha.items()}
    vocab, _ = bpe_vocab()
    lines = []
    for rank, t in enumerate(vocab):
        raw = bytes(inv[c] for c in t)
        lines.append(base64.b64encode(raw).decode() + " " + str(rank))
    return "\n".join(lines) + "\n"


def gguf_vocab_bpe():
    vocab, merges = bpe_vocab()
    toks = vocab + ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    types = [1] * len(vocab) + [3, 3, 3]
    return gguf([
        ("general.architecture", STR, "llama"),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, "llama-bpe"),
        ("tokenizer.ggml.tokens", ARR, (STR, toks)),
        ("tokenizer.ggml.token_type", ARR, (I32, types)),
        ("tokenizer.ggml.merges", ARR, (STR, [a + " " + b for a, b in merges])),
        ("tokenizer.ggml.bos_token_id", U32, len(vocab)),
        ("tokenizer.ggml.eos_token_id", U32, len(vocab) + 1),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.chat_template", STR, "{{ '<|start_header_id|>' }}"),
    ], [])


def gguf_vocab_spm(pre=None):
    toks = spm_vocab()
    kvs = [
        ("general.architecture", STR, "llama"),
        ("tokenizer.ggml.model", STR, "llama"),
        ("tokenizer.ggml.tokens", ARR, (STR, [t for t, _, _ in toks])),
        ("tokenizer.ggml.scores", ARR, (F32, [s for _, s, _ in toks])),
        ("tokenizer.ggml.token_type", ARR, (I32, [ty for _, _, ty in toks])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.ggml.add_space_prefix", BOOL, True),
    ]
    if pre:
        kvs.append(("tokenizer.ggml.pre", STR, pre))
    return gguf(kvs, [])


# ---- model_load: manifests over fuzz_model_load's fixed shard ----------------------------

SHARD_SIZE = 512 * 1024
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_k": (256, 144),
         "q5_k": (256, 176), "q6_k": (256, 210)}
ROLES = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
         "post_attention_norm", "ffn_norm", "post_ffw_norm", "ffn_gate", "ffn_up", "ffn_down",
         "ffn_gate_inp"]


def shard_hash():
    """sha256 of fuzz_model_load's shard (xorshift32 floats, as the target writes it)."""
    import hashlib
    x, out = 0x12345678, bytearray()
    for _ in range(SHARD_SIZE // 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out += struct.pack("<f", (x >> 8) / 16777216.0 * 0.2 - 0.1)
    return hashlib.sha256(out).hexdigest()


def model_obj(family, vocab, hidden, layers, heads, kv, hd, ffn, experts=0, used=0, tied=False,
              gemma=False, qwen=False, rope=None, sliding=0, softcap=0.0):
    r = {"theta": 10000, "scaling": "none", "factor": 0, "low_freq_factor": 0,
         "high_freq_factor": 0, "original_max_position_embeddings": 0, "attention_factor": 0,
         "short_factor": [], "long_factor": []}
    if rope:
        r.update(rope)
    m = {"family": family, "vocab_size": vocab, "hidden_size": hidden, "n_layers": layers,
         "n_heads": heads, "n_kv_heads": kv, "head_dim": hd, "ffn_size": ffn, "rot_dim": hd,
         "max_position_embeddings": 64, "norm_eps": 1e-5, "norm_plus_one": gemma,
         "sandwich_norm": gemma, "qk_norm": gemma or qwen,
         "activation": "gelu_tanh" if gemma else "silu", "embed_scale": hidden ** 0.5 if gemma else 1,
         "attn_scale": hd ** -0.5, "attn_softcap": softcap, "final_softcap": softcap,
         "sliding_window": sliding, "rope_interleaved": False, "n_experts": experts,
         "n_experts_used": used, "tied_embeddings": tied, "bos_id": 1, "eos_ids": [2],
         "layer_local": [1 if sliding and i % 2 == 0 else 0 for i in range(layers)], "rope": r}
    if gemma:
        m["rope_local"] = dict(r, theta=10000)
    return m


def model_manifest(m, dtype="f32"):
    """A manifest whose tensors (the loader's canonical set) lie one after another in the shard."""
    h, V, L = m["hidden_size"], m["vocab_size"], m["n_layers"]
    q, kv = m["n_heads"] * m["head_dim"], m["n_kv_heads"] * m["head_dim"]
    shapes = {"attn_norm": (1, h), "attn_q": (q, h), "attn_k": (kv, h), "attn_v": (kv, h),
              "attn_output": (h, q), "attn_q_norm": (1, m["head_dim"]),
              "attn_k_norm": (1, m["head_dim"]), "post_attention_norm": (1, h),
              "ffn_norm": (1, h), "post_ffw_norm": (1, h), "ffn_gate": (m["ffn_size"], h),
              "ffn_up": (m["ffn_size"], h), "ffn_down": (h, m["ffn_size"]),
              "ffn_gate_inp": (m["n_experts"], h)}
    tensors, off = {}, 0

    def add(name, rows, cols, role, layer, expert=-1, dt=None):
        nonlocal off
        dt = dt or dtype
        per, size = BLOCK[dt]
        if rows == 1 or cols % per:
            dt, per, size = "f32", 1, 4  # norms are f32; rows that are not whole blocks too
        nbytes = rows * (cols // per) * size
        t = {"dtype": dt, "shape": [rows, cols], "role": role, "layer": layer,
             "spans": [{"shard": 0, "offset": off, "size": nbytes}]}
        if expert >= 0:
            t["expert"] = expert
        tensors[name] = t
        off += (nbytes + 255) // 256 * 256

    add("token_embd.weight", V, h, "embed", -1)
    for l in range(L):
        for r in ROLES:
            if r in ("attn_q_norm", "attn_k_norm") and not m["qk_norm"]:
                continue
            if r in ("post_attention_norm", "post_ffw_norm") and not m["sandwich_norm"]:
                continue
            if r == "ffn_gate_inp" and not m["n_experts"]:
                continue
            rows, cols = shapes[r]
            if m["n_experts"] and r in ("ffn_gate", "ffn_up", "ffn_down"):
                for x in range(m["n_experts"]):
                    add("blk.%d.%s.%d.weight" % (l, r, x), rows, cols, r, l, x)
            else:
                add("blk.%d.%s.weight" % (l, r), rows, cols, r, l)
    add("output_norm.weight", 1, h, "output_norm", -1)
    if not m["tied_embeddings"]:
        add("output.weight", V, h, "output", -1)
    assert off <= SHARD_SIZE, off
    man = {"format": "rdrr", "version": 1, "model": m, "tokenizer": {"files": []},
           "shards": [{"hash": "sha256:" + shard_hash(), "size": SHARD_SIZE}], "tensors": tensors}
    return json.dumps(man, indent=1)


def model_load_seeds():
    llama3 = {"scaling": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
              "original_max_position_embeddings": 16}
    out("model_load", "llama-f32.json", model_manifest(
        model_obj("llama", 64, 32, 2, 2, 1, 16, 64, rope=llama3)))
    out("model_load", "llama-q8_0.json", model_manifest(
        model_obj("llama", 64, 64, 1, 4, 2, 16, 96), "q8_0"))
    out("model_load", "llama-q4_k.json", model_manifest(
        model_obj("llama", 16, 256, 1, 4, 1, 64, 256), "q4_k"))
    out("model_load", "llama-q6_k-f16.json", model_manifest(
        model_obj("llama", 16, 256, 1, 2, 2, 128, 256, tied=True), "q6_k").replace(
        '"dtype": "q6_k", "shape": [16, 256]', '"dtype": "f16", "shape": [16, 256]'))
    out("model_load", "gemma3-f16.json", model_manifest(
        model_obj("gemma3", 48, 32, 2, 2, 1, 16, 64, tied=True, gemma=True, sliding=4,
                  softcap=30.0), "f16"))
    out("model_load", "qwen3-bf16.json", model_manifest(
        model_obj("qwen3", 40, 32, 1, 4, 2, 8, 48, qwen=True), "bf16"))
    longrope = {"scaling": "longrope", "original_max_position_embeddings": 16,
                "short_factor": [1.0] * 8, "long_factor": [2.0] * 8}
    out("model_load", "phi3-longrope.json", model_manifest(
        model_obj("phi3", 40, 32, 1, 2, 2, 16, 48, rope=longrope)))
    out("model_load", "mixtral-f32.json", model_manifest(
        model_obj("mixtral", 40, 32, 2, 2, 1, 16, 32, experts=4, used=2)))
    # the target's FIFO shard (named by the SHA-256 of no bytes) and duplicate keys
    fifo = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    base = model_manifest(model_obj("llama", 64, 32, 2, 2, 1, 16, 64, rope=llama3))
    out("model_load", "fifo-shard.json", base.replace(shard_hash(), fifo))
    hashed = json.loads(base)
    hashed["tokenizer"] = {"files": ["tokenizer.json"], "hashes": {"tokenizer.json": "sha256:" + fifo}}
    out("rdrr", "tokenizer-hashes.json", json.dumps(hashed, indent=1))
    out("model_load", "dupkey-version.json", base.replace('"version": 1,', '"version": 1, "version": 2,'))


# ---- gguf_import: tiny GGUF models as llama.cpp lays them out ----------------------------

def gguf_model(arch, vocab=16, hidden=16, layers=1, heads=2, kv=1, hd=8, ffn=16, gt=0,
               experts=0, extra_kv=(), fused=False, rope_factors=None):
    kvs = [("general.architecture", STR, arch), ("general.name", STR, "fuzz-" + arch),
           (arch + ".context_length", U32, 64), (arch + ".embedding_length", U32, hidden),
           (arch + ".block_count", U32, layers), (arch + ".feed_forward_length", U32, ffn),
           (arch + ".attention.head_count", U32, heads),
           (arch + ".attention.head_count_kv", U32, kv),
           (arch + ".attention.key_length", U32, hd), (arch + ".attention.value_length", U32, hd),
           (arch + ".rope.freq_base", F32, 10000.0),
           (arch + ".attention.layer_norm_rms_epsilon", F32, 1e-5),
           (arch + ".rope.dimension_count", U32, hd)]
    if experts:
        kvs += [(arch + ".expert_count", U32, experts), (arch + ".expert_used_count", U32, 2)]
    kvs += list(extra_kv)
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(vocab - 3)]
    kvs += [("tokenizer.ggml.model", STR, "llama"), ("tokenizer.ggml.tokens", ARR, (STR, toks)),
            ("tokenizer.ggml.scores", ARR, (F32, [0.0] * vocab)),
            ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [6] * (vocab - 3))),
            ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2)]
    q, k = heads * hd, kv * hd
    t = [("token_embd.weight", [hidden, vocab], gt), ("output_norm.weight", [hidden], 0),
         ("output.weight", [hidden, vocab], gt)]
    gemma = arch in ("gemma2", "gemma3")
    for l in range(layers):
        b = "blk.%d." % l
        t.append((b + "attn_norm.weight", [hidden], 0))
        if fused:
            t.append((b + "attn_qkv.weight", [hidden, q + 2 * k], gt))
        else:
            t += [(b + "attn_q.weight", [hidden, q], gt), (b + "attn_k.weight", [hidden, k], gt),
                  (b + "attn_v.weight", [hidden, k], gt)]
        t.append((b + "attn_output.weight", [q, hidden], gt))
        if arch in ("gemma3", "qwen3"):
            t += [(b + "attn_q_norm.weight", [hd], 0), (b + "attn_k_norm.weight", [hd], 0)]
        if gemma:
            t += [(b + "post_attention_norm.weight", [hidden], 0),
                  (b + "post_ffw_norm.weight", [hidden], 0)]
        t.append((b + "ffn_norm.weight", [hidden], 0))
        if experts:
            t += [(b + "ffn_gate_inp.weight", [hidden, experts], 0),
                  (b + "ffn_gate_exps.weight", [hidden, ffn, experts], gt),
                  (b + "ffn_up_exps.weight", [hidden, ffn, experts], gt),
                  (b + "ffn_down_exps.weight", [ffn, hidden, experts], gt)]
        elif fused:
            t += [(b + "ffn_up.weight", [hidden, 2 * ffn], gt),
                  (b + "ffn_down.weight", [ffn, hidden], gt)]
        else:
            t += [(b + "ffn_gate.weight", [hidden, ffn], gt), (b + "ffn_up.weight", [hidden, ffn], gt),
                  (b + "ffn_down.weight", [ffn, hidden], gt)]
    if rope_factors:
        for name in rope_factors:
            t.append((name, [hd // 2], 0))
    return gguf(kvs, t)


def gguf_import_seeds():
    out("gguf_import", "llama-f32.gguf", gguf_model("llama"))
    out("gguf_import", "llama-q8_0.gguf", gguf_model("llama", hidden=32, hd=16, ffn=32, gt=8))
    out("gguf_import", "llama-rope-freqs.gguf", gguf_model("llama", rope_factors=["rope_freqs.weight"]))
    out("gguf_import", "mixtral-f16.gguf", gguf_model("llama", gt=1, experts=4))
    out("gguf_import", "gemma3.gguf", gguf_model("gemma3", layers=2, extra_kv=[
        ("gemma3.attention.sliding_window", U32, 8), ("gemma3.rope.freq_base_swa", F32, 10000.0)]))
    out("gguf_import", "gemma2.gguf", gguf_model("gemma2", layers=2, extra_kv=[
        ("gemma2.attention.sliding_window_pattern", ARR, (BOOL, [True, False]))]))
    out("gguf_import", "phi3.gguf", gguf_model("phi3", fused=True, rope_factors=[
        "rope_factors_long.weight", "rope_factors_short.weight"], extra_kv=[
        ("phi3.rope.scaling.original_context_length", U32, 16),
        ("phi3.rope.scaling.attn_factor", F32, 1.2)]))
    out("gguf_import", "qwen3-bf16.gguf", gguf_model("qwen3", gt=30))


# ---- the seeds ---------------------------------------------------------------------------

def serve_request_seeds():
    """`doppler serve` request bodies: the first byte picks the route (odd: completions) and the
    context bound; the rest is the body."""
    seeds = {
        "chat": (0x08, {"model": "m", "messages": [{"role": "system", "content": "s"},
                 {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                 "max_tokens": 16, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 3,
                 "stop": ["\n", "END"], "stream": True, "stream_options": {"include_usage": True}}),
        "chat-nulls": (0x08, {"messages": [{"role": "developer", "content": "x", "name": "n"}],
                       "max_completion_tokens": None, "stop": None, "n": 1, "logprobs": False,
                       "frequency_penalty": 0, "response_format": {"type": "text"}, "user": "u",
                       "logit_bias": {}}),
        "chat-bad": (0x08, {"messages": [{"role": "tool", "content": 5}], "temperature": -1}),
        "completion": (0x09, {"model": "m", "prompt": "Hello", "max_tokens": 8, "echo": False,
                       "best_of": 1, "logprobs": 0, "suffix": None, "stop": "x"}),
        "completion-array": (0x09, {"prompt": ["Hello"], "seed": 9007199254740992}),
    }
    for name, (sel, body) in seeds.items():
        out("serve_request", name, bytes([sel]) + json.dumps(body).encode())
    out("serve_request", "host6", b"\x00[::1]:8080")
    out("serve_request", "host4", b"\x00127.0.0.1:80")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", help="path to the doppler tool (RDRR manifest seeds)")
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    a = ap.parse_args()
    fx = os.path.join(a.shared, "fixtures")

    # JSON: handcrafted corner cases, plus every config and manifest below
    cases = {
        "escapes.json": '{"a":"\\u0041\\u00e9\\u4e16\\ud83d\\ude00\\n\\t\\"\\\\\\/\\b\\f\\r","b":[]}',
        "numbers.json": '[0,-0,1.5,-2e-3,1E+308,123456789012345678901234567890,4.9e-324,'
                        '0.1e1,9007199254740993,-9223372036854775808]',
        "nested.json": "[" * 40 + "{}" + "]" * 40,
        "utf8.json": '{"\u00e9t\u00e9":"\u4e16\u754c\U0001F600","k":null,"t":true,"f":false}',
        "dupkeys.json": '{"a":1,"a":2,"":{"":[""]}}',
        "dupkeys-nested.json": '{"v":1,"o":{"k":[{"x":1,"x\\u0000":1,"x":2}]},"v":2}',
        "dupkeys-large.json": "{" + ",".join('"k%d":%d' % (i, i) for i in range(40)) + ',"k39":0}',
        "scalar.json": ' "just a string" ',
    }
    for k, v in cases.items():
        out("json", k, v)

    # model descriptions: the fixture configs (Hugging Face field names)
    for fam in ["llama", "gemma3", "gemma2", "phi3", "mixtral", "qwen3"]:
        p = os.path.join(fx, "hf-tiny", fam, "config.json")
        if os.path.exists(p):
            data = open(p, "rb").read()
            out("json", "config-%s.json" % fam, data)
            out("model_json", "config-%s.json" % fam, data)
    gp = os.path.join(fx, "gguf", "hf", "config.json")
    if os.path.exists(gp):
        out("model_json", "config-gguf-llama.json", open(gp, "rb").read())

    # RDRR manifests written by Doppler's converter
    if a.tool:
        tmp = tempfile.mkdtemp()
        try:
            for fam, extra in [("llama", []), ("gemma3", []), ("gemma2", []), ("phi3", []),
                               ("mixtral", []), ("qwen3", []), ("llama", ["--quant", "q8_0"])]:
                src = os.path.join(fx, "hf-tiny", fam)
                if not os.path.isdir(src):
                    continue
                name = fam + ("-" + extra[1] if extra else "")
                dst = os.path.join(tmp, name)
                subprocess.run([a.tool, "convert", src, dst] + extra, check=True,
                               stdout=subprocess.DEVNULL)
                data = open(os.path.join(dst, "manifest.json"), "rb").read()
                out("rdrr", "manifest-%s.json" % name, data)
                model = json.loads(data)["model"]
                out("model_json", "model-%s.json" % name, json.dumps(model))
                if fam == "llama" and not extra:
                    out("json", "manifest-llama.json", data)
                    # a LoRA adapter for it (fixtures/lora): its manifest and "model" object
                    peft = os.path.join(fx, "lora", "llama", "adapter_a")
                    if os.path.isdir(peft):
                        ad = os.path.join(tmp, "adapter")
                        subprocess.run([a.tool, "convert", peft, ad, "--base", dst], check=True,
                                       stdout=subprocess.DEVNULL)
                        adata = open(os.path.join(ad, "manifest.json"), "rb").read()
                        out("rdrr", "manifest-lora-llama.json", adata)
                        out("model_json", "adapter-llama.json", json.dumps(json.loads(adata)["model"]))
        finally:
            shutil.rmtree(tmp)

    # safetensors: every dtype, metadata, an empty tensor, hub tensor names
    out("safetensors", "dtypes.safetensors", safetensors(
        [("f32", "F32", [2, 3]), ("f16", "F16", [4]), ("bf16", "BF16", [2, 1, 2]),
         ("i32", "I32", [3]), ("empty", "F32", [0, 5]), ("scalar", "F32", [])],
        {"format": "pt", "ggml_type": "q8_0"}))
    out("safetensors", "empty.safetensors", safetensors([]))
    hub = os.path.join(fx, "hf-tiny", "phi3", "model.safetensors")
    if os.path.exists(hub):
        raw = open(hub, "rb").read()
        (n,) = struct.unpack_from("<Q", raw, 0)
        names = [k for k in json.loads(raw[8:8 + n]) if k != "__metadata__"]
        out("safetensors", "hub-names.safetensors",
            safetensors([(k, "BF16", [2]) for k in sorted(names)], {"format": "pt"}))

    # sharded index (fuzz_st_index writes the shards it names)
    wm = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
          "c": "model-00002-of-00002.safetensors", "d": "model-00002-of-00002.safetensors"}
    out("st_index", "index.json", json.dumps({"metadata": {"total_size": 26}, "weight_map": wm}))
    out("st_index", "one-shard.json", json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}}))
    out("st_index", "bad-shards.json", json.dumps({"weight_map": {
        "a": "bad.safetensors", "x": "empty.safetensors", "c": "../c.safetensors"}}))
    out("st_index", "non-regular-shards.json", json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "f": "fifo.safetensors", "d": "dir.safetensors"}}))

    # GGUF: every value type, every tensor type, v2 and v3, a custom alignment
    every = [
        ("general.architecture", STR, "llama"),
        ("general.alignment", U32, 64),
        ("u8", U8, 200), ("i8", I8, -3), ("u16", U16, 60000), ("i16", I16, -300),
        ("u32", U32, 4000000000), ("i32", I32, -70000), ("f32", F32, 1.5), ("bool", BOOL, True),
        ("u64", U64, 2 ** 63 + 5), ("i64", I64, -(2 ** 40)), ("f64", F64, -2.25),
        ("str", STR, "h\u00e9llo"),
        ("arr.u8", ARR, (U8, [1, 2, 3])), ("arr.i16", ARR, (I16, [-1, 2])),
        ("arr.f32", ARR, (F32, [0.5, -1.0])), ("arr.bool", ARR, (BOOL, [True, False])),
        ("arr.u64", ARR, (U64, [2 ** 64 - 1])), ("arr.i64", ARR, (I64, [-5])),
        ("arr.f64", ARR, (F64, [3.0])), ("arr.str", ARR, (STR, ["a", "", "\u4e16"])),
        ("arr.empty", ARR, (U32, [])),
    ]
    tens = [("t.f32", [4, 2], 0), ("t.f16", [8], 1), ("t.q8_0", [32, 2], 8), ("t.q4_k", [256], 12),
            ("t.q5_k", [256], 13), ("t.q6_k", [256, 1, 1], 14), ("t.bf16", [2, 2, 2, 2], 30)]
    out("gguf", "every-type.gguf", gguf(every, tens, alignment=64))
    out("gguf", "v2.gguf", gguf(every[:1] + every[2:8], tens[:2], version=2))
    out("gguf", "empty.gguf", gguf([], []))
    llama = os.path.join(fx, "gguf", "llama-q4_k_m.gguf")
    if os.path.exists(llama):
        # the fixture's metadata (llama.cpp's own keys, a 512-token stub vocabulary) over tiny tensors
        out("gguf", "llama-meta.gguf", gguf_header_only(llama))
    out("gguf", "vocab-bpe.gguf", gguf_vocab_bpe())
    out("gguf", "vocab-spm.gguf", gguf_vocab_spm())

    # model_load: manifests over the target's own shard
    model_load_seeds()
    gguf_import_seeds()
    serve_request_seeds()

    # tokenizers (synthetic)
    out("tok_hfjson", "bpe.json", json.dumps(tokenizer_json_bpe(), ensure_ascii=False))
    out("tok_hfjson", "spm.json", json.dumps(tokenizer_json_spm(), ensure_ascii=False))
    out("tok_tiktoken", "bytes-and-words.tiktoken", tiktoken_file())
    out("tok_gguf", "vocab-bpe.gguf", gguf_vocab_bpe())
    out("tok_gguf", "vocab-spm.gguf", gguf_vocab_spm())
    out("tok_gguf", "vocab-spm-default-pre.gguf", gguf_vocab_spm("default"))
    texts = ["Hello world! don't 12345 \u00e9t\u00e9 \u4e16\u754c\n\n  spaces\t\ttabs",
             "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
             "\xff\xfe invalid \xc3 utf8 \xed\xa0\x80", "   leading and trailing   ",
             "x" * 300, "1234567890" * 10, "<s> </s> <unk> <0x41>"]
    for i, t in enumerate(texts):
        for sel in range(3):
            b = bytes([sel, 3]) + t.encode("utf-8", "surrogateescape")
            out("tok_encode", "text%d-%d.bin" % (i, sel), b)


def gguf_header_only(path):
    """Re-encode a GGUF file's metadata with small tensors of the same names and types."""
    f = open(path, "rb").read()
    _, ver, nt, nkv = struct.unpack_from("<IIQQ", f, 0)
    off = 24

    def rstr(o):
        (n,) = struct.unpack_from("<Q", f, o)
        return f[o + 8:o + 8 + n], o + 8 + n

    def rval(t, o):
        if t == STR:
            return rstr(o)
        if t == ARR:
            at, n = struct.unpack_from("<IQ", f, o)
            o += 12
            items = []
            for _ in range(n):
                v, o = rval(at, o)
                items.append(v)
            return (at, items), o
        fmt = SCALAR[t]
        return struct.unpack_from(fmt, f, o)[0], o + struct.calcsize(fmt)

    kvs = []
    for _ in range(nkv):
        k, off = rstr(off)
        (t,) = struct.unpack_from("<I", f, off)
        v, off = rval(t, off + 4)
        kvs.append((k, t, v))
    tens = []
    for _ in range(nt):
        name, off = rstr(off)
        (nd,) = struct.unpack_from("<I", f, off)
        off += 4 + 8 * nd
        gt, _ = struct.unpack_from("<IQ", f, off)
        off += 12
        per = GGML[gt][0]
        tens.append((name, [per] if nd == 1 else [per, 2], gt))
    return gguf(kvs, tens, version=ver)


if __name__ == "__main__":
    sys.exit(main())
