/* decode.c — ids to text, whole or streamed.
 *
 * A token's bytes: normal tokens their text (SentencePiece U+2581 turned back into ' '), byte
 * tokens their byte, user-defined tokens their text, control and unknown tokens their text only
 * with DP_DECODE_SPECIAL, unused tokens nothing. When the tokenizer adds a dummy prefix, the
 * space it becomes is dropped from the first piece of a whole decode (Hugging Face's Strip /
 * Metaspace decoders), so decode(encode(x)) == x. No clean-up of spaces before punctuation. */
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

/* Appends the bytes of id to out; strip drops a leading dummy-prefix space. Returns true when the
 * token was a normal one (it used up the chance to strip). */
static bool piece(const dp_tokenizer *t, int32_t id, unsigned flags, bool strip, dp_buf *out) {
    const dp_tok_entry *en = &t->tok[id];
    const uint8_t *s = dp_tok_bytes(t, id);
    size_t n = en->len;
    switch (en->type) {
    case DP_TOKT_BYTE:
        dp_buf_append(out, &en->byte, 1);
        return true;
    case DP_TOKT_CONTROL:
    case DP_TOKT_UNKNOWN:
        if (!(flags & DP_DECODE_SPECIAL)) return false;
        dp_buf_append(out, s, n);
        return n > 0;
    case DP_TOKT_USER:
        dp_buf_append(out, s, n);
        return n > 0;
    case DP_TOKT_NORMAL:
        break;
    default:
        return false;
    }
    if (!t->escape_spaces) {
        if (strip && n && s[0] == ' ') s++, n--;
        dp_buf_append(out, s, n);
        return true;
    }
    size_t run = 0, i = 0;
    if (strip && n >= 3 && s[0] == 0xE2 && s[1] == 0x96 && s[2] == 0x81) run = i = 3;
    for (; i + 2 < n; i++) {
        if (s[i] != 0xE2 || s[i + 1] != 0x96 || s[i + 2] != 0x81) continue;
        dp_buf_append(out, s + run, i - run);
        dp_buf_append(out, " ", 1);
        i += 2;
        run = i + 1;
    }
    dp_buf_append(out, s + run, n - run);
    return true;
}

static bool strips_prefix(const dp_tokenizer *t) {
    return !t->byte_level && t->prefix != DP_PREFIX_NONE;
}

dp_status dp_tokenizer_decode(const dp_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, dp_buf *out,
                              dp_error *e) {
    if (!t || !out || (!ids && n)) return dp_err_set(e, DP_ERR_INVALID_ARG, "decode: missing argument");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return dp_err_set(e, DP_ERR_INVALID_ARG, "token id %ld is out of range (vocabulary of %d)", (long)ids[i],
                              (int)t->n_vocab);
    bool strip = strips_prefix(t);
    for (size_t i = 0; i < n; i++) {
        if (piece(t, ids[i], flags, strip, out)) strip = false;
        if (out->oom) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    return DP_OK;
}

/* ---- streaming ---- */

void dp_detok_init(dp_detok *d, const dp_tokenizer *t, unsigned flags) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->flags = flags;
}

static const uint8_t REPL[3] = {0xEF, 0xBF, 0xBD};

/* Length a sequence starting with lead byte b needs (0: b cannot start one). */
static size_t seq_need(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Can p[0..k) (k < full length) still grow into a valid sequence? */
static bool prefix_ok(const uint8_t *p, size_t k) {
    if (k >= 2) {
        uint8_t a = p[0], b = p[1];
        if ((b & 0xC0) != 0x80) return false;
        if (a == 0xE0 && b < 0xA0) return false;   /* overlong */
        if (a == 0xED && b > 0x9F) return false;   /* surrogate */
        if (a == 0xF0 && b < 0x90) return false;   /* overlong */
        if (a == 0xF4 && b > 0x8F) return false;   /* > U+10FFFF */
    }
    for (size_t i = 2; i < k; i++)
        if ((p[i] & 0xC0) != 0x80) return false;
    return true;
}

/* Moves the complete, valid part of d->pend + s into out; keeps a valid incomplete tail. */
static void feed(dp_detok *d, const uint8_t *s, size_t n, dp_buf *out) {
    size_t i = 0;
    /* finish a held sequence first */
    while (d->npend && i < n) {
        d->pend[d->npend++] = s[i++];
        size_t need = seq_need(d->pend[0]);
        if (!prefix_ok(d->pend, d->npend)) {
            /* the held lead byte can never complete: one U+FFFD, then reconsider the rest */
            dp_buf_append(out, REPL, 3);
            uint8_t rest[4];
            size_t nr = (size_t)d->npend - 1;
            memcpy(rest, d->pend + 1, nr);
            d->npend = 0;
            feed(d, rest, nr, out);
            continue;
        }
        if (d->npend == need) {
            dp_buf_append(out, d->pend, need);
            d->npend = 0;
        }
    }
    size_t run = i;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len, need = seq_need(b);
        uint32_t cp = dp_utf8_decode(s + i, n - i, &len);
        if (cp != DP_UTF8_INVALID) {
            i += len;
            continue;
        }
        if (need && n - i < need && prefix_ok(s + i, n - i)) {
            /* a valid start cut by the end of this piece: hold it back */
            dp_buf_append(out, s + run, i - run);
            memcpy(d->pend, s + i, n - i);
            d->npend = (uint8_t)(n - i);
            return;
        }
        dp_buf_append(out, s + run, i - run);
        dp_buf_append(out, REPL, 3);
        i++;
        run = i;
    }
    dp_buf_append(out, s + run, n - run);
}

dp_status dp_detok_push(dp_detok *d, int32_t id, dp_buf *out, dp_error *e) {
    const dp_tokenizer *t = d->t;
    if (!t || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "detok: not initialised");
    if (id < 0 || id >= t->n_vocab)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "token id %ld is out of range (vocabulary of %d)", (long)id,
                          (int)t->n_vocab);
    bool strip = (d->flags & DP_DECODE_STRIP_PREFIX) && !d->started && strips_prefix(t);
    size_t before = out->len;
    if (piece(t, id, d->flags, strip, out)) d->started = true;
    if (out->oom) {
        out->len = before;
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    /* move the piece aside, then feed it through the UTF-8 assembler */
    size_t n = out->len - before;
    uint8_t local[256];
    uint8_t *tmp = n <= sizeof local ? local : dp_malloc(n);
    if (!tmp) {
        out->len = before;
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    if (n) memcpy(tmp, out->data + before, n);
    out->len = before;
    if (n) feed(d, tmp, n, out);
    if (tmp != local) dp_free(tmp);
    if (out->data && !out->oom) out->data[out->len] = '\0';
    if (out->oom) {
        out->len = before;
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    }
    return DP_OK;
}

void dp_detok_flush(dp_detok *d, dp_buf *out) {
    if (d->npend) {
        dp_buf_append(out, REPL, 3);
        d->npend = 0;
    }
    d->started = false;
}
