/* load_tiktoken.c — tiktoken rank files (Llama 3's tokenizer.model).
 *
 * Format: one "<base64 token bytes> <rank>\n" per token; the rank is the token id and the merge
 * priority (tiktoken merges the adjacent pair whose concatenation has the lowest rank). Special
 * tokens are not in the file: a file with exactly Llama 3's 128 000 ranks gets Llama 3's 256
 * specials at 128000.. (<|begin_of_text|>, <|end_of_text|>, ..., <|eot_id|>, ...), and the
 * Llama 3 pre-tokenizer regex (which is also cl100k's). */
#include <stdio.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define LLAMA3_RANKS 128000

static int b64val(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes base64 s[0..n) into out (room for 3*n/4 bytes); returns the length or -1. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out) {
    if (n == 0 || n % 4) return -1;
    size_t pad = 0;
    if (s[n - 1] == '=') pad++;
    if (n >= 2 && s[n - 2] == '=') pad++;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            uint8_t c = s[i + j];
            int d;
            if (c == '=') {
                if (i + 4 != n || i + j < n - pad) return -1;
                d = 0;
            } else if ((d = b64val(c)) < 0) {
                return -1;
            }
            v = (v << 6) | (uint32_t)d;
        }
        out[k++] = (uint8_t)(v >> 16);
        if (i + 4 < n || pad < 2) out[k++] = (uint8_t)(v >> 8);
        if (i + 4 < n || pad < 1) out[k++] = (uint8_t)v;
    }
    return (long)k;
}

typedef struct line {
    uint32_t off, len; /* decoded bytes in the scratch buffer */
    int64_t rank;
} line;

dp_status dp_tokenizer_load_tiktoken(const char *data, size_t n, dp_tokenizer **out, dp_error *e) {
    if (!data || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "tiktoken: missing argument");
    if (n > ((size_t)1 << 31)) return dp_err_set(e, DP_ERR_LIMIT, "tiktoken file is too large");
    const uint8_t *s = (const uint8_t *)data;
    size_t nlines = 1;
    for (size_t i = 0; i < n; i++) nlines += s[i] == '\n';
    line *lines = dp_malloc(nlines * sizeof *lines);
    uint8_t *bytes = dp_malloc(n / 4 * 3 + 4);
    dp_tokenizer *t = NULL;
    uint32_t *rank = NULL;
    dp_status st = (lines && bytes) ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    size_t nl = 0, nb = 0, lineno = 0;
    int64_t max_rank = -1;
    for (size_t pos = 0; st == DP_OK && pos < n;) {
        size_t end = pos;
        while (end < n && s[end] != '\n') end++;
        lineno++;
        size_t stop = end;
        if (stop > pos && s[stop - 1] == '\r') stop--;
        if (stop > pos) {
            size_t sp = pos;
            while (sp < stop && s[sp] != ' ') sp++;
            int64_t r = 0;
            size_t digits = 0;
            for (size_t i = sp + 1; i < stop; i++, digits++) {
                if (s[i] < '0' || s[i] > '9' || digits >= 10) {
                    digits = 0;
                    break;
                }
                r = r * 10 + (s[i] - '0');
            }
            long len = sp < stop ? b64_decode(s + pos, sp - pos, bytes + nb) : -1;
            if (len < 0 || digits == 0 || r >= INT32_MAX) {
                st = dp_err_set(e, DP_ERR_FORMAT, "tiktoken line %zu is not \"<base64> <rank>\"", lineno);
                break;
            }
            lines[nl].off = (uint32_t)nb;
            lines[nl].len = (uint32_t)len;
            lines[nl].rank = r;
            nb += (size_t)len;
            if (r > max_rank) max_rank = r;
            nl++;
        }
        pos = end + 1;
    }
    if (st == DP_OK && nl == 0) st = dp_err_set(e, DP_ERR_FORMAT, "tiktoken file has no tokens");
    /* ids are ranks: allow a few holes, but never a table much larger than the file */
    if (st == DP_OK && max_rank >= (int64_t)nl + 1024)
        st = dp_err_set(e, DP_ERR_FORMAT, "tiktoken rank %lld is far past the %zu tokens in the file", (long long)max_rank,
                        nl);
    bool llama3 = nl == LLAMA3_RANKS && max_rank == LLAMA3_RANKS - 1;
    int32_t n_vocab = (int32_t)max_rank + 1 + (llama3 ? 256 : 0);
    if (st == DP_OK) st = dp_tok_new(n_vocab, &t, e);
    if (st == DP_OK) {
        t->byte_level = true;
        t->pretok = DP_PRETOK_LLAMA3;
        t->fold_long_s = true;
        t->ignore_merges = true;
    }
    for (size_t i = 0; st == DP_OK && i < nl; i++) {
        int32_t id = (int32_t)lines[i].rank;
        if (t->tok[id].type) {
            st = dp_err_set(e, DP_ERR_FORMAT, "tiktoken rank %d appears twice", (int)id);
            break;
        }
        st = dp_tok_set(t, id, bytes + lines[i].off, lines[i].len, 0.0f, DP_TOKT_NORMAL, e);
    }
    if (st == DP_OK && llama3) st = dp_tok_llama3_specials(t, LLAMA3_RANKS, e);
    if (st == DP_OK) st = dp_tok_finish_vocab(t, e);
    if (st == DP_OK) {
        rank = dp_malloc((size_t)n_vocab * sizeof *rank);
        if (!rank) st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        else {
            for (int32_t i = 0; i < n_vocab; i++) rank[i] = (uint32_t)i;
            st = dp_tok_pairs_reserve(t, nl * 3, e);
        }
    }
    if (st == DP_OK) st = dp_tok_merges_from_ranks(t, rank, e);
    if (st == DP_OK) st = dp_tok_finish(t, e);
    if (st == DP_OK)
        snprintf(t->describe, sizeof t->describe, "tiktoken byte-level BPE, pre-tokenizer llama3, %d tokens%s",
                 (int)n_vocab, llama3 ? " (Llama 3 specials)" : "");
    dp_free(rank);
    dp_free(lines);
    dp_free(bytes);
    if (st != DP_OK) {
        dp_tokenizer_free(t);
        return st;
    }
    *out = t;
    return DP_OK;
}
