/* merges.c — the BPE merge table: (left id, right id) -> (rank, merged id). */
#include <string.h>

#include "tokenizer/tok_internal.h"

static uint32_t pair_slot(uint64_t k, uint32_t mask) {
    return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static dp_status pairs_resize(dp_tok_pairmap *p, uint32_t cap, dp_error *e) {
    uint64_t *key = dp_malloc((size_t)cap * sizeof *key);
    uint32_t *rank = dp_malloc((size_t)cap * sizeof *rank);
    int32_t *res = dp_malloc((size_t)cap * sizeof *res);
    if (!key || !rank || !res) {
        dp_free(key);
        dp_free(rank);
        dp_free(res);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory (merge table)");
    }
    memset(key, 0xFF, (size_t)cap * sizeof *key);
    uint32_t mask = cap - 1;
    if (p->key) {
        for (uint32_t i = 0; i <= p->mask; i++) {
            if (p->key[i] == UINT64_MAX) continue;
            uint32_t j = pair_slot(p->key[i], mask);
            while (key[j] != UINT64_MAX) j = (j + 1) & mask;
            key[j] = p->key[i];
            rank[j] = p->rank[i];
            res[j] = p->res[i];
        }
    }
    dp_free(p->key);
    dp_free(p->rank);
    dp_free(p->res);
    p->key = key;
    p->rank = rank;
    p->res = res;
    p->mask = mask;
    return DP_OK;
}

dp_status dp_tok_pairs_reserve(dp_tokenizer *t, size_t n, dp_error *e) {
    if (n > (1u << 28)) return dp_err_set(e, DP_ERR_LIMIT, "%zu merges is too many", n);
    uint32_t cap = 16;
    while (cap < n * 2 + 2) cap <<= 1;
    if (t->pairs.key && cap <= t->pairs.mask + 1) return DP_OK;
    return pairs_resize(&t->pairs, cap, e);
}

static dp_status pairs_insert(dp_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t res, dp_error *e) {
    dp_tok_pairmap *p = &t->pairs;
    if (!p->key || (size_t)(p->n + 1) * 2 > (size_t)p->mask + 1) {
        if (p->n >= (1u << 28)) return dp_err_set(e, DP_ERR_LIMIT, "too many merges");
        dp_status st = pairs_resize(p, p->key ? (p->mask + 1) * 2 : 1024, e);
        if (st != DP_OK) return st;
    }
    uint64_t k = dp_tok_pair_key(a, b);
    uint32_t i = pair_slot(k, p->mask);
    while (p->key[i] != UINT64_MAX) {
        if (p->key[i] == k) return DP_OK; /* first rank wins */
        i = (i + 1) & p->mask;
    }
    p->key[i] = k;
    p->rank[i] = rank;
    p->res[i] = res;
    p->n++;
    return DP_OK;
}

dp_status dp_tok_add_merge(dp_tokenizer *t, int32_t a, int32_t b, uint32_t rank, dp_error *e) {
    if (a < 0 || b < 0 || a >= t->n_vocab || b >= t->n_vocab) return DP_OK;
    size_t la = t->tok[a].len, lb = t->tok[b].len;
    uint8_t small[256];
    uint8_t *cat = la + lb <= sizeof small ? small : dp_malloc(la + lb);
    if (!cat) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    memcpy(cat, dp_tok_bytes(t, a), la);
    memcpy(cat + la, dp_tok_bytes(t, b), lb);
    int32_t res = dp_tok_lookup(t, cat, la + lb);
    if (cat != small) dp_free(cat);
    if (res < 0 || t->tok[res].type != DP_TOKT_NORMAL) return DP_OK;
    return pairs_insert(t, a, b, rank, res, e);
}

/* A unit that can take part in merges. */
static int32_t mergeable(const dp_tokenizer *t, const uint8_t *s, size_t n) {
    int32_t id = dp_tok_lookup(t, s, n);
    return id >= 0 && t->tok[id].type == DP_TOKT_NORMAL ? id : -1;
}

/* Tokens longer than this are not split into merge pairs: each split hashes both halves, so a
 * token of L bytes costs O(L^2) (a 1 MB token in a hostile file took minutes). Real vocabularies
 * stay far below it (Llama 3 and GPT-2: 128 bytes, SentencePiece Llama/Phi-3: 48). */
#define DP_TOK_MERGE_MAX_LEN 1024u

dp_status dp_tok_merges_from_ranks(dp_tokenizer *t, const uint32_t *rank, dp_error *e) {
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const dp_tok_entry *en = &t->tok[id];
        if (en->type != DP_TOKT_NORMAL || en->len < 2 || en->len > DP_TOK_MERGE_MAX_LEN) continue;
        const uint8_t *s = dp_tok_bytes(t, id);
        for (uint32_t k = 1; k < en->len; k++) {
            /* SentencePiece symbols are whole characters: never split inside one */
            if (!t->byte_level && (s[k] & 0xC0) == 0x80) continue;
            int32_t a = mergeable(t, s, k);
            if (a < 0) continue;
            int32_t b = mergeable(t, s + k, en->len - k);
            if (b < 0) continue;
            dp_status st = pairs_insert(t, a, b, rank[id], id, e);
            if (st != DP_OK) return st;
        }
    }
    return DP_OK;
}
