/* save_gguf.c — a byte-level BPE tokenizer as the tokenizer.* metadata of a GGUF file, the way
 * llama.cpp's converter writes a Hugging Face BPE vocabulary (tokenizer.ggml.model "gpt2"):
 *   tokens       every id's text in GPT-2's byte alphabet (bytes 33..126, 161..172, 174..255 as
 *                themselves, the other 68 bytes as U+0100.. in order), as tokenizer.json spells it;
 *   token_type   1 normal, 3 control, 4 user-defined, ... (dp_toktype has GGUF's numbering);
 *   merges       "left right" in that alphabet, by rank;
 *   pre          the pre-tokenizer's name in llama.cpp ("gpt-2", "llama-bpe", "qwen2");
 *   bos / eos / eot / padding ids, add_bos_token / add_eos_token.
 * So a model exported with `doppler export-gguf` tokenizes the same in llama.cpp. */
#include <stdlib.h>
#include <string.h>

#include "model/gguf_out.h"
#include "tokenizer/tok_internal.h"

/* GPT-2's printable spelling of byte b as UTF-8 (2 bytes at most) */
static size_t spell_byte(uint8_t b, char out[2]) {
    unsigned cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        unsigned n = 0; /* rank of b among the bytes that are not printable as themselves */
        for (unsigned c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* appends id's text: specials as they are, others byte by byte in GPT-2's alphabet */
static void spell(const dp_tokenizer *t, int32_t id, dp_buf *b) {
    const uint8_t *s = dp_tok_bytes(t, id);
    uint32_t n = t->tok[id].len;
    if (t->tok[id].type == DP_TOKT_CONTROL || t->tok[id].type == DP_TOKT_USER) {
        dp_buf_append(b, s, n);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        char c[2];
        dp_buf_append(b, c, spell_byte(s[i], c));
    }
}

typedef struct merge {
    uint32_t rank;
    int32_t a, b;
} merge;

static int by_rank(const void *x, const void *y) {
    uint32_t a = ((const merge *)x)->rank, b = ((const merge *)y)->rank;
    return a < b ? -1 : a > b;
}

static const char *pre_name(dp_pretok p) {
    switch (p) {
    case DP_PRETOK_LLAMA3: return "llama-bpe";
    case DP_PRETOK_QWEN2: return "qwen2";
    default: return "gpt-2";
    }
}

dp_status dp_tokenizer_to_gguf(const dp_tokenizer *t, dp_gguf_out *o, bool *written, dp_error *e) {
    *written = false;
    if (!t->byte_level || t->pretok == DP_PRETOK_NONE) return DP_OK; /* SentencePiece: not this shape */
    size_t n = (size_t)t->n_vocab, n_merges = 0;
    merge *mg = dp_calloc(t->pairs.n ? t->pairs.n : 1, sizeof *mg);
    int32_t *types = dp_calloc(n, sizeof *types);
    dp_buf b = {0};
    dp_status st = mg && types ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; st == DP_OK && t->pairs.key && i <= t->pairs.mask; i++) {
        uint64_t k = t->pairs.key[i];
        if (k == UINT64_MAX || n_merges == t->pairs.n) continue;
        mg[n_merges++] = (merge){t->pairs.rank[i], (int32_t)(k >> 32), (int32_t)(uint32_t)k};
    }
    if (st == DP_OK) {
        qsort(mg, n_merges, sizeof *mg, by_rank);
        dp_gguf_out_str(o, "tokenizer.ggml.model", "gpt2");
        dp_gguf_out_str(o, "tokenizer.ggml.pre", pre_name(t->pretok));
        dp_gguf_out_arr_str_begin(o, "tokenizer.ggml.tokens", n);
        for (size_t i = 0; i < n; i++) {
            b.len = 0;
            if (t->tok[i].type) spell(t, (int32_t)i, &b);
            types[i] = t->tok[i].type ? t->tok[i].type : DP_TOKT_UNUSED;
            dp_gguf_out_arr_put(o, b.data ? b.data : "", b.len);
        }
        dp_gguf_out_arr(o, "tokenizer.ggml.token_type", DP_GGUF_I32, types, n);
        dp_gguf_out_arr_str_begin(o, "tokenizer.ggml.merges", n_merges);
        for (size_t i = 0; i < n_merges; i++) {
            b.len = 0;
            spell(t, mg[i].a, &b);
            dp_buf_append(&b, " ", 1);
            spell(t, mg[i].b, &b);
            dp_gguf_out_arr_put(o, b.data ? b.data : "", b.len);
        }
        if (t->bos >= 0) dp_gguf_out_u32(o, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos);
        if (t->eos >= 0) dp_gguf_out_u32(o, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos);
        if (t->eot >= 0) dp_gguf_out_u32(o, "tokenizer.ggml.eot_token_id", (uint32_t)t->eot);
        if (t->pad >= 0) dp_gguf_out_u32(o, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad);
        dp_gguf_out_bool(o, "tokenizer.ggml.add_bos_token", t->add_bos);
        dp_gguf_out_bool(o, "tokenizer.ggml.add_eos_token", t->add_eos);
        if (t->chat_template) dp_gguf_out_str(o, "tokenizer.chat_template", t->chat_template);
        if (b.oom) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        *written = st == DP_OK;
    }
    dp_buf_free(&b);
    dp_free(mg);
    dp_free(types);
    return st;
}
