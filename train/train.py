#!/usr/bin/env python3
"""train.py CORPUS_DIR OUT_DIR [--seed N] [--models target,draft,lora] [--tokenizer DIR]
[--target-shape target|target-278m] [--target-seconds S] — the project's own small model family,
deterministic from a seed (PyTorch + Hugging Face transformers/tokenizers/peft; run on a GPU):

  OUT/tokenizer/   byte-level BPE, 4096 tokens (GPT-2 pre-tokenizer), ChatML specials
  OUT/target/      Llama architecture, ~21M parameters (hidden 512, 6 layers, GQA 8/4)
  OUT/draft/       Llama architecture, ~4M parameters (hidden 256, 4 layers, GQA 4/2),
                   same tokenizer: the speculative-decoding draft of the target
  OUT/lora-fortunes/  a PEFT LoRA (rank 16, every projection) on the target, trained on the
                   fortunes style only (the personalization measurement of the LoRA issue)
  OUT/target-278m/ with --target-shape target-278m: the larger target of speculative decoding
                   (278 459 136 parameters: hidden 768, 40 layers, GQA 12/4, FFN 2304), whose CPU decode
                   is memory-bound, so that verifying K + 1 rows costs little more than one
                   (docs/BENCHMARKS.md); trained with --tokenizer models/fable-21m-q4_k_m (the
                   family's tokenizer, not retrained) so fable-21m and fable-4m serve as its drafts
  OUT/results.json held-out perplexities by llama.cpp's method (chunks of --ctx tokens, BOS
                   first, the second half of each chunk scored), f32, for every model and style

Checkpoints are in Hugging Face layout with bf16 weights; `doppler convert` turns them into RDRR.
The corpus comes from train/corpus.py. Same seed, same software and GPU model: same data order
and initialisation; the GPU's kernels may still differ in the last bits run to run (see
docs/MODELS.md for what was checked).
"""
import argparse, json, math, os, random, time

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
FORTUNE_ASKS = ["Tell me a fortune.", "Say something wise.", "Tell me a joke.", "Give me a quote.",
                "Cheer me up.", "What do you think?"]
# the models' shapes (Llama, head_dim 64, tied embeddings, vocabulary 4096), also read by
# web/bench/spec-train-device.sh
SHAPES = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "shapes.json")))
LR = {"target": 1e-3, "draft": 2e-3, "target-278m": 6e-4}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def read_docs(corpus):
    return open(os.path.join(corpus, "train.txt"), encoding="utf-8").read().split("\n\f\n")


def is_manual(doc):
    return doc.startswith("NAME\n")


def chat_copy(doc, rng):
    """A chat-formatted copy of some documents, so `doppler chat` has turns to follow."""
    if is_manual(doc):
        line = doc.split("\n")[1].strip() if "\n" in doc else ""
        if " - " not in line:
            return None
        name = line.split(" - ")[0].split(",")[0].strip()
        q, a = f"What does {name} do?", line
    else:
        q, a = rng.choice(FORTUNE_ASKS), doc
    return f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n{a}<|im_end|>\n"


def load_tokenizer(src, out):
    """The family's tokenizer from a folder holding its tokenizer.json (a checkpoint, or an RDRR
    model such as models/fable-21m-q4_k_m), saved to out as train_tokenizer saves it."""
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(os.path.join(src, "tokenizer.json")),
                                   bos_token="<|bos|>", eos_token="<|eos|>")
    if fast.convert_tokens_to_ids("<|bos|>") != 0 or len(fast) != 4096:
        raise SystemExit(f"{src}/tokenizer.json is not the family's tokenizer (4096 tokens, <|bos|> = 0)")
    fast.chat_template = CHATML
    fast.save_pretrained(out)
    return fast


def train_tokenizer(docs, out):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4096, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>")
    fast.chat_template = CHATML
    fast.save_pretrained(out)
    return fast


def token_stream(docs, tok, seed):
    rng = random.Random(seed)
    texts = list(docs)
    texts += [c for c in (chat_copy(d, rng) for d in docs if rng.random() < 0.25) if c]
    rng.shuffle(texts)
    ids = []
    bos, eos = tok.convert_tokens_to_ids("<|bos|>"), tok.convert_tokens_to_ids("<|eos|>")
    for enc in tok(texts, add_special_tokens=False)["input_ids"]:
        ids += [bos] + enc + [eos]
    return torch.tensor(ids, dtype=torch.long)


def batches(stream, seq, batch, steps, seed):
    g = torch.Generator().manual_seed(seed)
    n = (len(stream) - 1) // seq
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(order) < batch:
            off = int(torch.randint(0, seq, (1,), generator=g))
            order = torch.cat([order, off + torch.randperm(n - 1, generator=g) * seq])
        starts, order = order[:batch], order[batch:]
        yield torch.stack([stream[s:s + seq] for s in starts])


def fit(model, stream, steps, lr, seed, seq=512, batch=32, params=None, probe=None, seconds=None):
    """steps of AdamW, warmup 5 % then cosine to 10 %. seconds: a time box instead: after 10 steps
    the step time is measured (steps 3..10) and the run set to as many steps as fit in seconds
    (at most steps), the schedule stretched to that count. Returns the steps run, their tokens
    and wall seconds."""
    params = [p for p in (params or model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    total = [steps]
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total[0])))))
    model.train()
    t_start, t3 = time.time(), None
    for step, x in enumerate(batches(stream, seq, batch, steps, seed)):
        if step >= total[0]:
            break
        if seconds and step in (3, 10):
            torch.cuda.synchronize()
            if step == 3:
                t3 = time.time()
            else:
                per = (time.time() - t3) / 7
                total[0] = max(11, min(steps, int((seconds - (time.time() - t_start)) / per) + 10))
                warm = max(1, total[0] // 20)
                log(f"  {per * 1e3:.1f} ms per step ({batch * seq / per:.0f} tokens/s): {total[0]} steps in {seconds} s")
        x = x.cuda(non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 200 == 0 or step == total[0] - 1:
            log(f"  step {step}/{total[0]} loss {loss.item():.4f}" + (f" held-out {probe()}" if probe and step % 400 == 0 else ""))
    torch.cuda.synchronize()
    model.eval()
    return {"steps": total[0], "tokens": total[0] * batch * seq, "seconds": round(time.time() - t_start, 1)}


@torch.no_grad()
def perplexity(model, ids, ctx, bos):
    """llama.cpp's llama-perplexity: chunks of ctx tokens, the first set to BOS, logits of
    positions ctx/2 .. ctx-2 scored against the next token; PPL = exp(mean NLL), error from the
    NLL's spread."""
    first = ctx // 2
    nll = []
    for c in range(len(ids) // ctx):
        x = ids[c * ctx:(c + 1) * ctx].clone()
        x[0] = bos
        logits = model(input_ids=x[None].cuda()).logits[0].float()
        lp = torch.log_softmax(logits[first:ctx - 1], dim=-1)
        nll.append(-lp.gather(1, x[first + 1:ctx, None].cuda())[:, 0].double().cpu())
    v = torch.cat(nll)
    mean, n = v.mean().item(), len(v)
    var = (v * v).mean().item() - mean * mean
    ppl = math.exp(mean)
    return {"ppl": ppl, "ppl_err": ppl * math.sqrt(max(var, 0.0) / max(n - 1, 1)), "scored": n,
            "chunks": len(ids) // ctx}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--target-steps", type=int, default=1500)
    ap.add_argument("--draft-steps", type=int, default=1500)
    ap.add_argument("--lora-steps", type=int, default=200)
    ap.add_argument("--models", default="target,draft,lora", help="which to train, in this order: target, draft, lora")
    ap.add_argument("--tokenizer", help="reuse this folder's tokenizer.json instead of training one")
    ap.add_argument("--target-shape", default="target", choices=[k for k in SHAPES if k != "draft"])
    ap.add_argument("--target-seconds", type=float, help="time box of the target's training (steps: at most --target-steps)")
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    todo = a.models.split(",")
    if not set(todo) <= {"target", "draft", "lora"} or ("lora" in todo and "target" not in todo):
        raise SystemExit(f"--models {a.models}: a list of target, draft, lora (lora needs target)")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    docs = read_docs(a.corpus)
    log(f"corpus: {len(docs)} documents")
    tok = (load_tokenizer(a.tokenizer, os.path.join(a.out, "tokenizer")) if a.tokenizer
           else train_tokenizer(docs, os.path.join(a.out, "tokenizer")))
    bos = tok.convert_tokens_to_ids("<|bos|>")
    stream = token_stream(docs, tok, a.seed)
    log(f"tokenizer: {len(tok)} tokens; training stream {len(stream)} tokens")
    fortunes = token_stream([d for d in docs if not is_manual(d)], tok, a.seed + 1)
    held = {s: torch.tensor(tok(open(os.path.join(a.corpus, f"heldout-{s}.txt"), encoding="utf-8").read())["input_ids"],
                            dtype=torch.long)
            for s in ("fortunes", "manuals")}
    results = {"seed": a.seed, "ctx": a.ctx, "train_tokens": len(stream), "target_shape": a.target_shape,
               "heldout_tokens": {s: len(v) for s, v in held.items()}, "models": {}}

    def evaluate(name, model):
        model.float()
        results["models"][name] = {s: perplexity(model, v, a.ctx, bos) for s, v in held.items()}
        log(name, json.dumps(results["models"][name]))
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)

    nets = {}
    runs = [(a.target_shape, a.target_steps, a.target_seconds)] if "target" in todo else []
    runs += [("draft", a.draft_steps, None)] if "draft" in todo else []
    for name, steps, seconds in runs:
        lr = LR[name]
        torch.manual_seed(a.seed)
        cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=2048, rope_theta=10000.0,
                          rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos,
                          eos_token_id=tok.convert_tokens_to_ids("<|eos|>"), head_dim=64, **SHAPES[name])
        model = LlamaForCausalLM(cfg).cuda()
        log(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, "
            + (f"{seconds} s (at most {steps} steps)" if seconds else f"{steps} steps") + f" of {a.batch} x {a.ctx} tokens")
        def probe():
            model.eval()
            r = " ".join(f"{s}={perplexity(model, v[:16 * a.ctx], a.ctx, bos)['ppl']:.2f}" for s, v in held.items())
            model.train()
            return r

        results.setdefault("training", {})[name] = fit(model, stream, steps, lr, a.seed, seq=a.ctx, batch=a.batch,
                                                       probe=probe, seconds=seconds)
        log(f"{name}: {json.dumps(results['training'][name])}")
        evaluate(name, model)
        d = os.path.join(a.out, name)
        model.to(torch.bfloat16).save_pretrained(d)
        tok.save_pretrained(d)
        model.float()  # the bf16 weights, now in f32: what the perplexity reference reads
        evaluate(name + "-bf16", model)
        nets["draft" if name == "draft" else "target"] = model

    if "lora" not in todo:
        log("done")
        return
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(a.seed)
    lcfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(nets["target"], lcfg)
    log(f"lora: {sum(p.numel() for p in peft_model.parameters() if p.requires_grad)} trainable parameters")
    fit(peft_model, fortunes, a.lora_steps, 5e-4, a.seed + 2)
    peft_model.save_pretrained(os.path.join(a.out, "lora-fortunes"))
    evaluate("target+lora-fortunes", peft_model)
    log("done")


if __name__ == "__main__":
    main()
