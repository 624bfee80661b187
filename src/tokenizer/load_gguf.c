/* load_gguf.c — the vocabulary embedded in a GGUF file (tokenizer.ggml.*), read as llama.cpp
 * reads it:
 *   model       "llama" (SentencePiece BPE + byte fallback, scores) or "gpt2" (byte-level BPE,
 *               merges "a b" in the byte-level alphabet)
 *   pre         gpt2 pre-tokenizer: "gpt-2"/"phi-2"/"default" -> GPT-2 regex; "llama-bpe",
 *               "llama3", "llama-v3", "falcon3", "pixtral" -> Llama 3 regex with ignore_merges;
 *               "smaug-bpe" -> Llama 3 regex; "qwen2", "deepseek-r1-qwen" -> Qwen 2 regex
 *   tokens, scores, token_type (1 normal 2 unknown 3 control 4 user 5 unused 6 byte), merges,
 *   bos/eos/eot/eom/unknown/padding_token_id, add_bos_token, add_eos_token, add_space_prefix,
 *   chat_template.
 * Like llama.cpp's, the Llama 3 / Qwen 2 contractions here are ASCII-only ('[sS] ...). */
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/tok_internal.h"

static bool str_is(dp_gguf_str s, const char *lit) {
    return s.len == strlen(lit) && !memcmp(s.s, lit, s.len);
}

static bool any_of(dp_gguf_str s, const char *const *names) {
    for (; *names; names++)
        if (str_is(s, *names)) return true;
    return false;
}

static int32_t get_id(const dp_gguf *g, const char *key, int32_t n_vocab, int32_t dflt) {
    int64_t v;
    if (!dp_gguf_get_i64(g, key, &v)) return dflt;
    return v >= 0 && v < n_vocab ? (int32_t)v : -1;
}

static dp_status pick_pre(dp_tokenizer *t, const dp_gguf *g, dp_error *e) {
    static const char *const gpt2[] = {"gpt-2", "gpt2", "phi-2", "default", NULL};
    static const char *const llama3[] = {"llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral", NULL};
    static const char *const qwen2[] = {"qwen2", "deepseek-r1-qwen", NULL};
    dp_gguf_str pre = {"default", 7};
    (void)dp_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    if (any_of(pre, gpt2)) t->pretok = DP_PRETOK_GPT2;
    else if (any_of(pre, llama3)) t->pretok = DP_PRETOK_LLAMA3, t->ignore_merges = true, t->add_bos = true;
    else if (str_is(pre, "smaug-bpe")) t->pretok = DP_PRETOK_LLAMA3;
    else if (any_of(pre, qwen2)) t->pretok = DP_PRETOK_QWEN2;
    else
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF pre-tokenizer '%.64s' is not supported (known: gpt-2, llama-bpe, qwen2)",
                          pre.s);
    return DP_OK;
}

static dp_status set_tokens(dp_tokenizer *t, const dp_gguf *g, const dp_gguf_kv *toks, dp_error *e) {
    const dp_gguf_kv *scores = dp_gguf_find(g, "tokenizer.ggml.scores");
    const dp_gguf_kv *types = dp_gguf_find(g, "tokenizer.ggml.token_type");
    uint64_t n = toks->n;
    if (scores && (scores->type != DP_GGUF_ARRAY || scores->n != n))
        return dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.scores has %llu entries for %llu tokens",
                          (unsigned long long)scores->n, (unsigned long long)n);
    if (types && (types->type != DP_GGUF_ARRAY || types->n != n))
        return dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.token_type has %llu entries for %llu tokens",
                          (unsigned long long)types->n, (unsigned long long)n);
    dp_buf tmp = {0};
    dp_status st = DP_OK;
    for (uint64_t i = 0; i < n && st == DP_OK; i++) {
        dp_gguf_str s;
        double sc = 0;
        int64_t ty = DP_TOKT_NORMAL;
        if (!dp_gguf_arr_str(toks, i, &s)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.tokens[%llu] is not a string", (unsigned long long)i);
            break;
        }
        if (scores && !dp_gguf_arr_f64(scores, i, &sc)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.scores[%llu] is not a number", (unsigned long long)i);
            break;
        }
        if (types && !dp_gguf_arr_i64(types, i, &ty)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.token_type[%llu] is not an integer", (unsigned long long)i);
            break;
        }
        if (ty < DP_TOKT_NORMAL || ty > DP_TOKT_BYTE) ty = DP_TOKT_NORMAL; /* llama.cpp: undefined -> normal */
        const char *text = s.s;
        size_t len = (size_t)s.len;
        /* byte-level vocabularies spell normal tokens in GPT-2's alphabet; specials are raw */
        if (t->byte_level && ty == DP_TOKT_NORMAL && dp_bytelevel_decode(s.s, len, &tmp)) {
            if (tmp.oom) {
                st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
                break;
            }
            text = tmp.data;
            len = tmp.len;
        }
        if (!t->byte_level && ty == DP_TOKT_BYTE && (len != 6 || memcmp(text, "<0x", 3))) ty = DP_TOKT_NORMAL;
        st = dp_tok_set(t, (int32_t)i, text, len, (float)sc, (dp_toktype)ty, e);
    }
    dp_buf_free(&tmp);
    return st;
}

static dp_status add_merges(dp_tokenizer *t, const dp_gguf_kv *merges, dp_error *e) {
    dp_buf l = {0}, r = {0};
    dp_status st = dp_tok_pairs_reserve(t, (size_t)merges->n, e);
    for (uint64_t i = 0; i < merges->n && st == DP_OK; i++) {
        dp_gguf_str s;
        if (!dp_gguf_arr_str(merges, i, &s)) {
            st = dp_err_set(e, DP_ERR_FORMAT, "tokenizer.ggml.merges[%llu] is not a string", (unsigned long long)i);
            break;
        }
        const char *sp = memchr(s.s, ' ', (size_t)s.len);
        if (!sp) continue;
        size_t ll = (size_t)(sp - s.s), rl = (size_t)s.len - ll - 1;
        if (!dp_bytelevel_decode(s.s, ll, &l) || !dp_bytelevel_decode(sp + 1, rl, &r)) continue;
        if (l.oom || r.oom) {
            st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            break;
        }
        int32_t a = dp_tok_lookup(t, l.data, l.len), b = dp_tok_lookup(t, r.data, r.len);
        st = dp_tok_add_merge(t, a, b, (uint32_t)i, e);
    }
    dp_buf_free(&l);
    dp_buf_free(&r);
    return st;
}

/* llama.cpp's Phi-3 rule: special tokens eat the white space after them, except <unk>, <s>,
 * <|endoftext|>; </s> does too. */
static void phi3_attrs(dp_tokenizer *t) {
    for (size_t i = 0; i < t->n_special; i++) t->tok[t->special[i]].attr |= DP_TOKA_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    int32_t id = dp_tok_lookup(t, "</s>", 4);
    if (id >= 0) t->tok[id].attr |= DP_TOKA_RSTRIP;
    for (size_t i = 0; i < 3; i++)
        if ((id = dp_tok_lookup(t, keep[i], strlen(keep[i]))) >= 0) t->tok[id].attr &= (uint8_t)~DP_TOKA_RSTRIP;
}

static bool name_has_phi3(const dp_gguf *g) {
    dp_gguf_str name;
    if (!dp_gguf_get_str(g, "general.name", &name)) return false;
    char low[128];
    size_t n = name.len < sizeof low - 1 ? (size_t)name.len : sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)(name.s[i] >= 'A' && name.s[i] <= 'Z' ? name.s[i] + 32 : name.s[i]);
    low[n] = 0;
    return strstr(low, "phi-3") || strstr(low, "phi3");
}

dp_status dp_tokenizer_load_gguf(const dp_gguf *g, dp_tokenizer **out, dp_error *e) {
    if (!g || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "gguf tokenizer: missing argument");
    dp_gguf_str model;
    if (!dp_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return dp_err_set(e, DP_ERR_NOT_FOUND, "GGUF file has no tokenizer.ggml.model");
    bool spm = str_is(model, "llama"), bpe = str_is(model, "gpt2");
    if (!spm && !bpe)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "GGUF tokenizer model '%.64s' is not supported (llama, gpt2)", model.s);
    const dp_gguf_kv *toks = dp_gguf_find(g, "tokenizer.ggml.tokens");
    if (!toks || toks->type != DP_GGUF_ARRAY || toks->arr_type != DP_GGUF_STRING || toks->n == 0)
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF tokenizer.ggml.tokens is missing or not a string array");
    if (toks->n > (1u << 26)) return dp_err_set(e, DP_ERR_LIMIT, "GGUF vocabulary of %llu tokens", (unsigned long long)toks->n);
    const dp_gguf_kv *merges = dp_gguf_find(g, "tokenizer.ggml.merges");
    if (bpe && (!merges || merges->type != DP_GGUF_ARRAY || merges->arr_type != DP_GGUF_STRING))
        return dp_err_set(e, DP_ERR_FORMAT, "GGUF gpt2 tokenizer has no tokenizer.ggml.merges string array");

    int32_t n_vocab = (int32_t)toks->n;
    dp_tokenizer *t = NULL;
    dp_status st = dp_tok_new(n_vocab, &t, e);
    if (st != DP_OK) return st;
    bool b;
    if (spm) {
        t->escape_spaces = true;
        t->byte_fallback = true;
        t->add_bos = true;
        bool prefix = true;
        if (dp_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) prefix = b;
        t->prefix = prefix ? DP_PREFIX_ALWAYS : DP_PREFIX_NONE;
    } else {
        t->byte_level = true;
        st = pick_pre(t, g, e);
    }
    if (st == DP_OK) st = set_tokens(t, g, toks, e);
    if (st == DP_OK) {
        t->bos = get_id(g, "tokenizer.ggml.bos_token_id", n_vocab, spm ? 1 : -1);
        t->eos = get_id(g, "tokenizer.ggml.eos_token_id", n_vocab, spm ? 2 : -1);
        t->eot = get_id(g, "tokenizer.ggml.eot_token_id", n_vocab, -1);
        t->pad = get_id(g, "tokenizer.ggml.padding_token_id", n_vocab, -1);
        t->unk_id = get_id(g, "tokenizer.ggml.unknown_token_id", n_vocab, spm ? 0 : -1);
        if (dp_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
        if (dp_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) t->add_eos = b;
        dp_gguf_str tmpl;
        if (dp_gguf_get_str(g, "tokenizer.chat_template", &tmpl)) {
            t->chat_template = dp_strndup(tmpl.s, (size_t)tmpl.len);
            if (!t->chat_template) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        }
    }
    if (st == DP_OK) st = dp_tok_finish_vocab(t, e);
    if (st == DP_OK) st = spm ? dp_spm_build_merges(t, e) : add_merges(t, merges, e);
    if (st == DP_OK) {
        if (name_has_phi3(g)) phi3_attrs(t);
        int32_t eom = get_id(g, "tokenizer.ggml.eom_token_id", n_vocab, -1);
        st = dp_tok_finish(t, e);
        if (st == DP_OK && eom >= 0 && !dp_tokenizer_is_eog(t, eom)) {
            int32_t *v = dp_realloc(t->eog, (t->n_eog + 1) * sizeof *v);
            if (!v) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            else t->eog = v, t->eog[t->n_eog++] = eom;
        }
    }
    if (st == DP_OK) {
        static const char *const pre_names[] = {"none", "gpt2", "llama3", "qwen2"};
        if (spm)
            snprintf(t->describe, sizeof t->describe, "GGUF SentencePiece BPE (byte fallback%s), %d tokens",
                     t->prefix ? ", dummy prefix" : "", (int)n_vocab);
        else
            snprintf(t->describe, sizeof t->describe, "GGUF byte-level BPE, pre-tokenizer %s, %d tokens",
                     pre_names[t->pretok], (int)n_vocab);
    }
    if (st != DP_OK) {
        dp_tokenizer_free(t);
        return st;
    }
    *out = t;
    return DP_OK;
}
