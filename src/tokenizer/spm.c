/* spm.c — SentencePiece-style text: whitespace escaping, dummy prefix, splitting, and the merge
 * ranks of a score-based vocabulary.
 *
 * llama.cpp's llm_tokenizer_spm (the oracle of the ggml-vocab-*.inp/.out vectors): the text
 * fragment gets a leading space when add_space_prefix is on and the fragment is at the start or
 * follows a special token; every ' ' becomes U+2581; the fragment is split into UTF-8 characters;
 * the adjacent pair whose concatenation is a token with the highest score merges first (leftmost
 * among equals) until none does; a final symbol that is not a token becomes <0xXX> byte tokens.
 * That is BPE with rank = order of the merged token's score (dp_spm_build_merges), which bpe.c
 * runs. Only NORMAL tokens are merge results: control and byte tokens never form from text.
 *
 * When no normal token has U+2581 after another character (true of Llama 2, Phi-3, Gemma), no
 * merge can cross the start of a U+2581 run, so the text is merged word by word there: the same
 * result, with memory bounded by the longest word instead of the whole prompt. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const uint8_t MS[3] = {0xE2, 0x96, 0x81}; /* U+2581 */

static inline bool is_ms(const uint8_t *s, size_t n, size_t i) {
    return i + 3 <= n && s[i] == MS[0] && s[i + 1] == MS[1] && s[i + 2] == MS[2];
}

dp_status dp_spm_fragment(const dp_tokenizer *t, const uint8_t *s, size_t n, bool first, dp_bpe_scratch *sc,
                          dp_buf *tmp, dp_tokens *out, dp_error *e) {
    tmp->len = 0;
    bool prefix = t->prefix == DP_PREFIX_ALWAYS || (t->prefix == DP_PREFIX_FIRST && first);
    if (prefix && t->prefix_if_missing && n && (s[0] == ' ' || is_ms(s, n, 0))) prefix = false;
    if (prefix) {
        if (t->escape_spaces) dp_buf_append(tmp, MS, 3);
        else dp_buf_append(tmp, " ", 1);
    }
    if (t->escape_spaces) {
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] != ' ') continue;
            dp_buf_append(tmp, s + run, i - run);
            dp_buf_append(tmp, MS, 3);
            run = i + 1;
        }
        dp_buf_append(tmp, s + run, n - run);
    } else {
        dp_buf_append(tmp, s, n);
    }
    if (tmp->oom) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    const uint8_t *p = (const uint8_t *)tmp->data;
    size_t m = tmp->len;
    if (!t->metaspace_split && !t->spm_split_safe) return dp_bpe_piece(t, p, m, sc, out, e);
    size_t start = 0;
    for (size_t i = 1; i < m; i++) {
        if (!is_ms(p, m, i)) continue;
        /* split before U+2581: always (Metaspace), or where the run of U+2581 starts (safe split) */
        if (!t->metaspace_split && i >= 3 && is_ms(p, m, i - 3)) continue;
        dp_status st = dp_bpe_piece(t, p + start, i - start, sc, out, e);
        if (st != DP_OK) return st;
        start = i;
        i += 2;
    }
    return dp_bpe_piece(t, p + start, m - start, sc, out, e);
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

dp_status dp_spm_build_merges(dp_tokenizer *t, dp_error *e) {
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].type == DP_TOKT_NORMAL) n++;
    float *sc = dp_malloc((n ? n : 1) * sizeof *sc);
    uint32_t *rank = dp_malloc((size_t)t->n_vocab * sizeof *rank);
    if (!sc || !rank) {
        dp_free(sc);
        dp_free(rank);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->tok[id].type != DP_TOKT_NORMAL) continue;
        if (isnan(t->tok[id].score)) t->tok[id].score = -INFINITY;
        sc[k++] = t->tok[id].score;
    }
    qsort(sc, k, sizeof *sc, cmp_float_desc);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || sc[u - 1] != sc[i]) sc[u++] = sc[i];
    for (int32_t id = 0; id < t->n_vocab; id++) {
        rank[id] = UINT32_MAX;
        if (t->tok[id].type != DP_TOKT_NORMAL) continue;
        size_t lo = 0, hi = u; /* first index with sc[idx] <= score (descending list) */
        float v = t->tok[id].score;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (sc[mid] > v) lo = mid + 1;
            else hi = mid;
        }
        rank[id] = (uint32_t)lo;
    }
    dp_free(sc);
    dp_status st = dp_tok_merges_from_ranks(t, rank, e);
    dp_free(rank);
    if (st != DP_OK) return st;

    /* can the text be merged word by word? (no normal token with U+2581 after another char) */
    bool safe = t->escape_spaces;
    for (int32_t id = 0; safe && id < t->n_vocab; id++) {
        if (t->tok[id].type != DP_TOKT_NORMAL) continue;
        const uint8_t *s = dp_tok_bytes(t, id);
        size_t len = t->tok[id].len;
        for (size_t i = 1; i < len; i++)
            if (is_ms(s, len, i) && !(i >= 3 && is_ms(s, len, i - 3))) {
                safe = false;
                break;
            }
    }
    t->spm_split_safe = safe;
    return DP_OK;
}
