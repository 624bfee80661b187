/* bpe.c — the merge loop shared by byte-level BPE, tokenizer.json BPE and SentencePiece.
 *
 * A piece is split into units (bytes, or UTF-8 characters), each with its token id. Then the
 * adjacent pair with the lowest rank is merged, leftmost first among equal ranks, until no pair
 * merges: the rule of Hugging Face's BPE, tiktoken (rank = id of the merged token) and llama.cpp's
 * SentencePiece session (rank = order of the merged token's score). Short pieces use a linear
 * scan; longer ones a binary heap of (rank, left position) entries that are checked on pop, so a
 * piece of n units costs O(n log n) — a 1 MB run of one letter is fine. */
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

typedef struct sym {
    int32_t id;      /* -1: a unit with no token */
    uint32_t start;  /* byte offset in the piece */
    int32_t prev;    /* -2 once merged away */
    int32_t next;    /* -1 at the end */
} sym;

#define SMALL_PIECE 24

bool dp_tokens_push(dp_tokens *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *v->ids) return false;
        int32_t *ids = dp_realloc(v->ids, cap * sizeof *ids);
        if (!ids) return false;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return true;
}

void dp_tokens_free(dp_tokens *v) {
    if (!v) return;
    dp_free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

void dp_bpe_scratch_free(dp_bpe_scratch *sc) {
    dp_free(sc->sym);
    dp_free(sc->heap);
    sc->sym = sc->heap = NULL;
    sc->sym_cap = sc->heap_cap = 0;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / elem) return false;
    void *q = dp_realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static inline int32_t unit_id(const dp_tokenizer *t, const uint8_t *s, size_t len) {
    if (t->byte_level) return t->byte_id[s[0]];
    if (len == 1 && s[0] < 0x80) return t->ascii_id[s[0]];
    int32_t id = dp_tok_lookup(t, s, len);
    return id >= 0 && t->tok[id].type == DP_TOKT_NORMAL ? id : -1;
}

/* Ids for a unit that has no token. */
static bool emit_unknown(const dp_tokenizer *t, const uint8_t *s, size_t len, dp_tokens *out) {
    if (t->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < len; i++) all = all && t->byte_id[s[i]] >= 0;
        if (all) {
            for (size_t i = 0; i < len; i++)
                if (!dp_tokens_push(out, t->byte_id[s[i]])) return false;
            return true;
        }
    }
    if (t->unk_id >= 0) return dp_tokens_push(out, t->unk_id);
    return true; /* no way to say it: dropped, as llama.cpp does */
}

static void merge_small(const dp_tokenizer *t, sym *sy, int32_t nsym) {
    uint32_t rank[SMALL_PIECE];
    int32_t res[SMALL_PIECE];
    for (int32_t i = 0; i + 1 < nsym; i++) rank[i] = dp_tok_pair_find(&t->pairs, sy[i].id, sy[i + 1].id, &res[i]);
    rank[nsym - 1] = UINT32_MAX;
    for (;;) {
        uint32_t best = UINT32_MAX;
        int32_t bi = -1;
        for (int32_t i = 0; i != -1; i = sy[i].next)
            if (rank[i] < best) best = rank[i], bi = i;
        if (bi < 0) break;
        int32_t j = sy[bi].next;
        sy[bi].id = res[bi];
        sy[bi].next = sy[j].next;
        sy[j].prev = -2;
        if (sy[j].next >= 0) sy[sy[j].next].prev = bi;
        rank[bi] = sy[bi].next >= 0 ? dp_tok_pair_find(&t->pairs, sy[bi].id, sy[sy[bi].next].id, &res[bi]) : UINT32_MAX;
        int32_t p = sy[bi].prev;
        if (p >= 0) rank[p] = dp_tok_pair_find(&t->pairs, sy[p].id, sy[bi].id, &res[p]);
    }
}

static inline void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static inline void push_pair(const dp_tokenizer *t, const sym *sy, int32_t left, uint64_t *h, size_t *nh) {
    if (left < 0 || sy[left].next < 0) return;
    int32_t res = -1;
    uint32_t r = dp_tok_pair_find(&t->pairs, sy[left].id, sy[sy[left].next].id, &res);
    if (r != UINT32_MAX) heap_push(h, nh, ((uint64_t)r << 32) | (uint32_t)left);
}

static void merge_heap(const dp_tokenizer *t, sym *sy, int32_t nsym, uint64_t *h) {
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < nsym; i++) push_pair(t, sy, i, h, &nh);
    while (nh) {
        uint64_t top = heap_pop(h, &nh);
        uint32_t rank = (uint32_t)(top >> 32);
        int32_t left = (int32_t)(uint32_t)top;
        if (sy[left].prev == -2) continue;
        int32_t right = sy[left].next;
        if (right < 0) continue;
        int32_t res = -1;
        /* stale unless the pair now there has this very rank (then it is equivalent) */
        if (dp_tok_pair_find(&t->pairs, sy[left].id, sy[right].id, &res) != rank) continue;
        sy[left].id = res;
        sy[left].next = sy[right].next;
        sy[right].prev = -2;
        if (sy[right].next >= 0) sy[sy[right].next].prev = left;
        push_pair(t, sy, sy[left].prev, h, &nh);
        push_pair(t, sy, left, h, &nh);
    }
}

dp_status dp_bpe_piece(const dp_tokenizer *t, const uint8_t *s, size_t n, dp_bpe_scratch *sc, dp_tokens *out,
                       dp_error *e) {
    if (n == 0) return DP_OK;
    if (n > INT32_MAX) return dp_err_set(e, DP_ERR_LIMIT, "a piece of %zu bytes is too long", n);
    if (t->ignore_merges) {
        int32_t id = dp_tok_lookup(t, s, n);
        if (id >= 0 && t->tok[id].type == DP_TOKT_NORMAL)
            return dp_tokens_push(out, id) ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (!grow(&sc->sym, &sc->sym_cap, n, sizeof(sym))) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    sym *sy = sc->sym;
    int32_t nsym = 0;
    for (size_t pos = 0; pos < n;) {
        size_t len = t->byte_level ? 1 : dp_utf8_unit_len(s + pos, n - pos);
        sy[nsym].id = unit_id(t, s + pos, len);
        sy[nsym].start = (uint32_t)pos;
        sy[nsym].prev = nsym - 1;
        sy[nsym].next = nsym + 1;
        nsym++;
        pos += len;
    }
    sy[nsym - 1].next = -1;
    if (nsym > 1 && t->pairs.key) {
        if (nsym <= SMALL_PIECE) {
            merge_small(t, sy, nsym);
        } else {
            if (!grow(&sc->heap, &sc->heap_cap, 2 * (size_t)nsym, sizeof(uint64_t)))
                return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
            merge_heap(t, sy, nsym, sc->heap);
        }
    }
    for (int32_t i = 0; i != -1; i = sy[i].next) {
        bool ok;
        if (sy[i].id >= 0) {
            ok = dp_tokens_push(out, sy[i].id);
        } else {
            size_t end = sy[i].next >= 0 ? sy[sy[i].next].start : n;
            ok = emit_unknown(t, s + sy[i].start, end - sy[i].start, out);
        }
        if (!ok) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    return DP_OK;
}
