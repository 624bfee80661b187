/* vocab.c — the token table: building it, the text -> id hash, specials and accessors. */
#include <string.h>

#include "tokenizer/tok_internal.h"

uint32_t dp_tok_hash(const uint8_t *s, size_t n) {
    uint64_t h = 0x243F6A8885A308D3ull ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

dp_status dp_tok_new(int32_t n_vocab, dp_tokenizer **out, dp_error *e) {
    if (n_vocab <= 0 || n_vocab > (1 << 26))
        return dp_err_set(e, DP_ERR_LIMIT, "vocabulary size %d is out of range", (int)n_vocab);
    dp_tokenizer *t = dp_calloc(1, sizeof *t);
    if (!t) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    t->tok = dp_calloc((size_t)n_vocab, sizeof *t->tok);
    if (!t->tok) {
        dp_free(t);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory (vocabulary of %d tokens)", (int)n_vocab);
    }
    t->n_vocab = n_vocab;
    t->bos = t->eos = t->eot = t->pad = t->unk_id = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    for (int i = 0; i < 128; i++) t->ascii_id[i] = -1;
    *out = t;
    return DP_OK;
}

void dp_tokenizer_free(dp_tokenizer *t) {
    if (!t) return;
    dp_free(t->tok);
    dp_buf_free(&t->blob);
    dp_free(t->map.slot);
    dp_free(t->map.hash);
    dp_free(t->special_map.slot);
    dp_free(t->special_map.hash);
    dp_free(t->pairs.key);
    dp_free(t->pairs.rank);
    dp_free(t->pairs.res);
    dp_free(t->eog);
    dp_free(t->special);
    dp_free(t->special_lens);
    dp_free(t->chat_template);
    dp_free(t);
}

dp_status dp_tok_set(dp_tokenizer *t, int32_t id, const void *text, size_t len, float score, dp_toktype type,
                     dp_error *e) {
    if (id < 0 || id >= t->n_vocab) return dp_err_set(e, DP_ERR_FORMAT, "token id %d is out of range", (int)id);
    if (len > (1u << 20)) return dp_err_set(e, DP_ERR_LIMIT, "token %d is %zu bytes long", (int)id, len);
    if (t->blob.len + len >= UINT32_MAX) return dp_err_set(e, DP_ERR_LIMIT, "token texts exceed 4 GiB");
    dp_tok_entry *en = &t->tok[id];
    en->off = (uint32_t)t->blob.len;
    en->len = (uint32_t)len;
    en->score = score;
    en->type = (uint8_t)type;
    en->attr = 0;
    dp_buf_append(&t->blob, text, len);
    if (t->blob.oom) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    return DP_OK;
}

static uint32_t pow2_at_least(size_t n) {
    uint32_t c = 16;
    while (c < n && c < (1u << 30)) c <<= 1;
    return c;
}

static dp_status strmap_init(dp_tok_strmap *m, size_t n, dp_error *e) {
    uint32_t cap = pow2_at_least(n * 2 + 1);
    m->slot = dp_calloc(cap, sizeof *m->slot);
    m->hash = dp_calloc(cap, sizeof *m->hash);
    if (!m->slot || !m->hash) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    m->mask = cap - 1;
    return DP_OK;
}

static int32_t strmap_find(const dp_tokenizer *t, const dp_tok_strmap *m, const uint8_t *s, size_t n, uint32_t h) {
    if (!m->slot) return -1;
    uint32_t i = h & m->mask;
    for (;;) {
        uint32_t v = m->slot[i];
        if (!v) return -1;
        if (m->hash[i] == h) {
            const dp_tok_entry *en = &t->tok[v - 1];
            if (en->len == n && (n == 0 || !memcmp(t->blob.data + en->off, s, n))) return (int32_t)(v - 1);
        }
        i = (i + 1) & m->mask;
    }
}

/* Inserts id unless its text is present; returns the id that holds the text. */
static int32_t strmap_insert(dp_tokenizer *t, dp_tok_strmap *m, int32_t id) {
    const dp_tok_entry *en = &t->tok[id];
    const uint8_t *s = dp_tok_bytes(t, id);
    uint32_t h = dp_tok_hash(s, en->len);
    int32_t have = strmap_find(t, m, s, en->len, h);
    if (have >= 0) return have;
    uint32_t i = h & m->mask;
    while (m->slot[i]) i = (i + 1) & m->mask;
    m->slot[i] = (uint32_t)id + 1;
    m->hash[i] = h;
    return id;
}

int32_t dp_tok_lookup(const dp_tokenizer *t, const void *text, size_t len) {
    return strmap_find(t, &t->map, text, len, dp_tok_hash(text, len));
}

int32_t dp_tok_special_find(const dp_tokenizer *t, const void *text, size_t len) {
    return strmap_find(t, &t->special_map, text, len, dp_tok_hash(text, len));
}

int32_t dp_tokenizer_find(const dp_tokenizer *t, const char *s, size_t n) {
    if (!t || !s) return -1;
    return dp_tok_lookup(t, s, n);
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xAB>" -> 0xAB, else -1. */
static int byte_token_value(const uint8_t *s, size_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static bool is_special_type(uint8_t type) {
    return type == DP_TOKT_CONTROL || type == DP_TOKT_UNKNOWN || type == DP_TOKT_USER;
}

static int cmp_len_desc(const dp_tokenizer *t, int32_t a, int32_t b) {
    uint32_t la = t->tok[a].len, lb = t->tok[b].len;
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Insertion-sort merges of runs would do; specials are few, a simple merge sort keeps it O(n log n). */
static void sort_specials(const dp_tokenizer *t, int32_t *v, int32_t *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    sort_specials(t, v, tmp, h);
    sort_specials(t, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_len_desc(t, v[i], v[j]) <= 0 ? v[i++] : v[j++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* Specials longer than this are not split out of text: encode tries every distinct special
 * length at each candidate position, hashing that many bytes, so a hostile vocabulary of long
 * specials made encode cost text x (sum of their lengths) (a 1 MB tokenizer.json took 98 s on a
 * 100 KB text). Real specials are under 40 bytes. */
#define DP_TOK_SPECIAL_MAX_LEN 256u

static bool split_candidate(const dp_tok_entry *en) {
    return is_special_type(en->type) && en->len > 0 && en->len <= DP_TOK_SPECIAL_MAX_LEN;
}

static dp_status build_specials(dp_tokenizer *t, dp_error *e) {
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (split_candidate(&t->tok[id])) n++;
    t->n_special = 0;
    memset(t->special_first, 0, sizeof t->special_first);
    memset(t->user_first, 0, sizeof t->user_first);
    t->has_user = false;
    t->n_special_lens = 0;
    if (!n) return DP_OK;
    t->special = dp_malloc(n * sizeof *t->special);
    t->special_lens = dp_malloc(n * sizeof *t->special_lens);
    int32_t *tmp = dp_malloc(n * sizeof *tmp);
    dp_status st = (t->special && t->special_lens && tmp) ? strmap_init(&t->special_map, n, e) : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st != DP_OK) {
        dp_free(tmp);
        return st;
    }
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (split_candidate(&t->tok[id])) t->special[t->n_special++] = id;
    sort_specials(t, t->special, tmp, n);
    dp_free(tmp);
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->special[i];
        uint8_t first = dp_tok_bytes(t, id)[0];
        strmap_insert(t, &t->special_map, id);
        t->special_first[first >> 3] |= (uint8_t)(1u << (first & 7));
        if (t->tok[id].type == DP_TOKT_USER) {
            t->user_first[first >> 3] |= (uint8_t)(1u << (first & 7));
            t->has_user = true;
        }
        uint32_t len = t->tok[id].len;
        if (t->n_special_lens && t->special_lens[t->n_special_lens - 1] == len) continue;
        t->special_lens[t->n_special_lens++] = len;
    }
    return DP_OK;
}

static bool add_eog(dp_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return true;
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    int32_t *v = dp_realloc(t->eog, (t->n_eog + 1) * sizeof *v);
    if (!v) return false;
    t->eog = v;
    t->eog[t->n_eog++] = id;
    return true;
}

void dp_tok_guess_specials(dp_tokenizer *t) {
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>",
                                            "<|endoftext|>", "<EOT>", "<|end_of_turn|>"};
    if (t->eot < 0) {
        for (size_t i = 0; i < sizeof eot_names / sizeof eot_names[0] && t->eot < 0; i++) {
            int32_t id = dp_tok_lookup(t, eot_names[i], strlen(eot_names[i]));
            if (id >= 0 && t->tok[id].type == DP_TOKT_CONTROL && id != t->bos) t->eot = id;
        }
    }
}

static dp_status build_eog(dp_tokenizer *t, dp_error *e) {
    static const char *const names[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>",
                                        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "<|end_of_turn|>"};
    bool ok = add_eog(t, t->eos) && add_eog(t, t->eot);
    for (size_t i = 0; ok && i < sizeof names / sizeof names[0]; i++) {
        int32_t id = dp_tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 0 && id != t->bos && t->tok[id].type == DP_TOKT_CONTROL) ok = add_eog(t, id);
    }
    return ok ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "out of memory");
}

dp_status dp_tok_finish_vocab(dp_tokenizer *t, dp_error *e) {
    dp_status st = strmap_init(&t->map, (size_t)t->n_vocab, e);
    if (st != DP_OK) return st;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        dp_tok_entry *en = &t->tok[id];
        if (!en->type) continue;
        strmap_insert(t, &t->map, id);
        int b = byte_token_value(dp_tok_bytes(t, id), en->len);
        if (en->type == DP_TOKT_BYTE) {
            if (b < 0) return dp_err_set(e, DP_ERR_FORMAT, "byte token %d is not of the form <0xXX>", (int)id);
            en->byte = (uint8_t)b;
            if (!t->byte_level && t->byte_id[b] < 0) t->byte_id[b] = id;
        }
    }
    if (t->byte_level) {
        for (int b = 0; b < 256; b++) {
            uint8_t c = (uint8_t)b;
            int32_t id = dp_tok_lookup(t, &c, 1);
            if (id >= 0 && t->tok[id].type == DP_TOKT_NORMAL) t->byte_id[b] = id;
        }
    } else {
        for (int c = 0; c < 128; c++) {
            uint8_t ch = (uint8_t)c;
            int32_t id = dp_tok_lookup(t, &ch, 1);
            if (id >= 0 && (t->tok[id].type == DP_TOKT_NORMAL || t->tok[id].type == DP_TOKT_USER)) t->ascii_id[c] = id;
        }
    }
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].type == 0) t->tok[id].type = DP_TOKT_UNUSED, t->tok[id].len = 0;
    return build_specials(t, e);
}

dp_status dp_tok_finish(dp_tokenizer *t, dp_error *e) {
    dp_tok_guess_specials(t);
    t->n_eog = 0;
    return build_eog(t, e);
}

/* ---- accessors ---- */

int32_t dp_tokenizer_n_vocab(const dp_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t dp_tokenizer_bos(const dp_tokenizer *t) { return t ? t->bos : -1; }
int32_t dp_tokenizer_eos(const dp_tokenizer *t) { return t ? t->eos : -1; }
int32_t dp_tokenizer_eot(const dp_tokenizer *t) { return t ? t->eot : -1; }
bool dp_tokenizer_add_bos(const dp_tokenizer *t) { return t && t->add_bos && t->bos >= 0; }
const char *dp_tokenizer_chat_template(const dp_tokenizer *t) { return t ? t->chat_template : NULL; }
const char *dp_tokenizer_describe(const dp_tokenizer *t) { return t ? t->describe : ""; }

int dp_tokenizer_is_eog(const dp_tokenizer *t, int32_t id) {
    if (!t || id < 0) return 0;
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 1;
    return 0;
}

const char *dp_tokenizer_text(const dp_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->tok[id].len;
    return t->blob.data ? t->blob.data + t->tok[id].off : "";
}

dp_toktype dp_tokenizer_type(const dp_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return (dp_toktype)0;
    return (dp_toktype)t->tok[id].type;
}
