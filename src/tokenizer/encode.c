/* encode.c — text to ids: special-token splitting, then each text fragment through the
 * pre-tokenizer + byte-level BPE or the SentencePiece path.
 *
 * Specials are found leftmost-longest in one pass (Hugging Face's rule; llama.cpp's longest-
 * token-first partition gives the same fragments unless two specials overlap in the text). With
 * parse_special every control, unknown and user-defined token text is recognised; without it
 * only user-defined ones. lstrip/rstrip attributes eat ASCII white space beside the match. */
#include <string.h>

#include "tokenizer/tok_internal.h"

static inline bool ascii_space(uint8_t c) { return c == ' ' || (c >= 9 && c <= 13); }

/* Longest special token at s (n bytes left) allowed here; -1 if none. */
static int32_t special_at(const dp_tokenizer *t, const uint8_t *s, size_t n, bool parse_special, size_t *len) {
    for (size_t k = 0; k < t->n_special_lens; k++) {
        uint32_t l = t->special_lens[k];
        if (l > n) continue;
        int32_t id = dp_tok_special_find(t, s, l);
        if (id < 0) continue;
        if (!parse_special && t->tok[id].type != DP_TOKT_USER) continue;
        *len = l;
        return id;
    }
    return -1;
}

typedef struct enc {
    const dp_tokenizer *t;
    dp_bpe_scratch sc;
    dp_buf tmp;
    dp_tokens *out;
} enc;

static dp_status encode_bytelevel(enc *c, const uint8_t *s, size_t n, dp_error *e) {
    const dp_tokenizer *t = c->t;
    if (t->add_prefix_space && s[0] != ' ') {
        c->tmp.len = 0;
        dp_buf_append(&c->tmp, " ", 1);
        dp_buf_append(&c->tmp, s, n);
        if (c->tmp.oom) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        s = (const uint8_t *)c->tmp.data;
        n = c->tmp.len;
    }
    if (t->pretok == DP_PRETOK_NONE) return dp_bpe_piece(t, s, n, &c->sc, c->out, e);
    for (size_t pos = 0; pos < n;) {
        size_t end = dp_pretok_next(t->pretok, t->fold_long_s, s, n, pos);
        if (end <= pos) end = pos + 1; /* cannot happen; keeps the loop finite regardless */
        dp_status st = dp_bpe_piece(t, s + pos, end - pos, &c->sc, c->out, e);
        if (st != DP_OK) return st;
        pos = end;
    }
    return DP_OK;
}

static dp_status encode_text(enc *c, const uint8_t *s, size_t n, bool first, dp_error *e) {
    if (n == 0) return DP_OK;
    if (c->t->byte_level) return encode_bytelevel(c, s, n, e);
    return dp_spm_fragment(c->t, s, n, first, &c->sc, &c->tmp, c->out, e);
}

static dp_status encode_all(enc *c, const uint8_t *s, size_t n, bool parse_special, dp_error *e) {
    const dp_tokenizer *t = c->t;
    const uint8_t *first = parse_special ? t->special_first : t->user_first;
    bool any = parse_special ? t->n_special > 0 : t->has_user;
    size_t frag = 0;
    dp_status st;
    for (size_t i = 0; any && i < n;) {
        if (!(first[s[i] >> 3] & (1u << (s[i] & 7)))) {
            i++;
            continue;
        }
        size_t len = 0;
        int32_t id = special_at(t, s + i, n - i, parse_special, &len);
        if (id < 0) {
            i++;
            continue;
        }
        size_t lend = i;
        if (t->tok[id].attr & DP_TOKA_LSTRIP)
            while (lend > frag && ascii_space(s[lend - 1])) lend--;
        if ((st = encode_text(c, s + frag, lend - frag, frag == 0, e)) != DP_OK) return st;
        if (!dp_tokens_push(c->out, id)) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
        i += len;
        if (t->tok[id].attr & DP_TOKA_RSTRIP)
            while (i < n && ascii_space(s[i])) i++;
        frag = i;
    }
    return encode_text(c, s + frag, n - frag, frag == 0, e);
}

dp_status dp_tokenizer_encode(const dp_tokenizer *t, const char *text, size_t n, bool add_special,
                              bool parse_special, dp_tokens *out, dp_error *e) {
    if (!t || !out || (!text && n)) return dp_err_set(e, DP_ERR_INVALID_ARG, "encode: missing argument");
    size_t n0 = out->n;
    enc c = {t, {0}, {0}, out};
    dp_status st = DP_OK;
    if (add_special && t->add_bos && t->bos >= 0 && !dp_tokens_push(out, t->bos))
        st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    if (st == DP_OK && n) st = encode_all(&c, (const uint8_t *)text, n, parse_special, e);
    if (st == DP_OK && add_special && t->add_eos && t->eos >= 0 && !dp_tokens_push(out, t->eos))
        st = dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    dp_bpe_scratch_free(&c.sc);
    dp_buf_free(&c.tmp);
    if (st != DP_OK) out->n = n0;
    return st;
}
