#!/usr/bin/env python3
"""peft_to_gguf.py — a PEFT LoRA adapter as llama.cpp's convert_lora_to_gguf.py writes it, with
llama.cpp's gguf-py and numpy only (that script imports transformers and safetensors, which
Debian does not package). What it reproduces of the script, f32 output (its default --outtype):
  - general.architecture of the base (gguf.MODEL_ARCH from the HF architectures list),
    general.type "adapter", adapter.type "lora", adapter.lora.alpha (float32 of lora_alpha),
    general.file_type ALL_F32, general.quantization_version;
  - per PEFT pair <module>.lora_A.weight / .lora_B.weight: the base tensor's GGUF name from
    gguf.get_tensor_name_map (blk.N.attn_q.weight ...) + ".lora_a" / ".lora_b", arrays of torch
    shape (rank, cols) and (rows, rank), i.e. GGUF ne [cols, rank] and [rank, rows];
  - llama / Mixtral (LlamaModel): q_proj and k_proj permuted as LlamaModel.permute does, which
    through LoraTorchTensor.reshape / permute reorders only B's rows.
Usage: peft_to_gguf.py <peft-dir> <base-hf-dir> <out.gguf>   (PYTHONPATH=<llama.cpp>/gguf-py)"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf

ARCH = {"LlamaForCausalLM": gguf.MODEL_ARCH.LLAMA, "MixtralForCausalLM": gguf.MODEL_ARCH.LLAMA,
        "Gemma3ForCausalLM": gguf.MODEL_ARCH.GEMMA3, "Gemma2ForCausalLM": gguf.MODEL_ARCH.GEMMA2,
        "Qwen3ForCausalLM": gguf.MODEL_ARCH.QWEN3}
PERMUTED = {"LlamaForCausalLM", "MixtralForCausalLM"}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{name}: {t['dtype']}"
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"]).copy()
    return out


def permute(w, n_head, n_head_kv=None):  # LlamaModel.permute, on B's rows
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main(peft_dir, base_dir, out):
    cfg = json.loads((Path(base_dir) / "config.json").read_text())
    lcfg = json.loads((Path(peft_dir) / "adapter_config.json").read_text())
    cls = cfg["architectures"][0]
    arch = ARCH[cls]
    tmap = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    tensors = read_safetensors(Path(peft_dir) / "adapter_model.safetensors")
    w = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lcfg["lora_alpha"]))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    pairs = {}
    for name, t in tensors.items():
        base = name.replace("base_model.model.", "").replace(".lora_A.weight", ".weight").replace(".lora_B.weight", ".weight")
        pairs.setdefault(base, {})["A" if ".lora_A." in name else "B"] = t
    for base, p in pairs.items():
        a, b = p["A"], p["B"]
        if cls in PERMUTED and base.endswith("q_proj.weight"):
            b = permute(b, cfg["num_attention_heads"], cfg["num_attention_heads"])
        if cls in PERMUTED and base.endswith("k_proj.weight"):
            b = permute(b, cfg["num_attention_heads"], cfg["num_key_value_heads"])
        gname = tmap.get_name(base, try_suffixes=(".weight",))
        assert gname, base
        w.add_tensor(gname + ".lora_a", np.ascontiguousarray(a))
        w.add_tensor(gname + ".lora_b", np.ascontiguousarray(b))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
