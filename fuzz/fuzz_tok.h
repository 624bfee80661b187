/* fuzz_tok.h — what the tokenizer targets do with a tokenizer that loaded: every accessor over
 * every id, encode of fixed texts and of caller bytes with every flag combination, decode and
 * streaming decode of the result (whose output must be valid UTF-8), chat templates. */
#ifndef DP_FUZZ_TOK_H
#define DP_FUZZ_TOK_H

#include "fuzz_common.h"

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

static bool fz_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0Fu, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* Encode text with the given flags; check ids, decode whole and streamed. */
static void fz_tok_roundtrip(const dp_tokenizer *t, const char *text, size_t n, bool add_special, bool parse_special) {
    dp_tokens ids = {0};
    dp_error e = {0};
    int32_t nv = dp_tokenizer_n_vocab(t);
    if (dp_tokenizer_encode(t, text, n, add_special, parse_special, &ids, &e) != DP_OK) {
        if (!e.msg[0]) abort();
        dp_tokens_free(&ids);
        return;
    }
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] < 0 || ids.ids[i] >= nv) {
            fprintf(stderr, "fuzz_tok: encode produced id %d of %d\n", ids.ids[i], nv);
            abort();
        }
    for (unsigned flags = 0; flags < 2; flags++) {
        dp_buf out = {0};
        if (dp_tokenizer_decode(t, ids.ids, ids.n, flags, &out, &e) != DP_OK) abort();
        dp_buf_free(&out);
        dp_detok d;
        dp_detok_init(&d, t, flags | DP_DECODE_STRIP_PREFIX);
        for (size_t i = 0; i < ids.n; i++)
            if (dp_detok_push(&d, ids.ids[i], &out, &e) != DP_OK) abort();
        dp_detok_flush(&d, &out);
        if (!out.oom && !fz_utf8_valid((const uint8_t *)out.data, out.len)) {
            fprintf(stderr, "fuzz_tok: streaming decode wrote invalid UTF-8\n");
            abort();
        }
        dp_buf_free(&out);
    }
    dp_tokens_free(&ids);
}

static inline void fz_tok_use(const dp_tokenizer *t, const uint8_t *extra, size_t extra_n) {
    int32_t nv = dp_tokenizer_n_vocab(t);
    if (nv <= 0) abort();
    int32_t sp[3] = {dp_tokenizer_bos(t), dp_tokenizer_eos(t), dp_tokenizer_eot(t)};
    for (int i = 0; i < 3; i++)
        if (sp[i] < -1 || sp[i] >= nv) abort();
    fz_sink((uint32_t)dp_tokenizer_add_bos(t));
    const char *d = dp_tokenizer_describe(t);
    fz_sink(fz_touch(d, strlen(d)));
    for (int32_t id = -1; id <= nv; id++) {
        size_t len = 0;
        const char *s = dp_tokenizer_text(t, id, &len);
        dp_toktype ty = dp_tokenizer_type(t, id);
        fz_sink((uint32_t)dp_tokenizer_is_eog(t, id) + (uint32_t)ty);
        if (!s) {
            if (id >= 0 && id < nv) abort();
            continue;
        }
        fz_sink(fz_touch(s, len));
        int32_t f = dp_tokenizer_find(t, s, len);
        if (f < 0 && len > 0 && ty != DP_TOKT_UNUSED) {
            fprintf(stderr, "fuzz_tok: token %d's text is not found\n", id);
            abort();
        }
        /* one decode per token: the bytes are there */
        dp_buf out = {0};
        dp_error e = {0};
        if (dp_tokenizer_decode(t, &id, 1, DP_DECODE_SPECIAL, &out, &e) != DP_OK) abort();
        dp_buf_free(&out);
    }
    dp_buf bad = {0};
    int32_t oob[2] = {nv, -1};
    dp_error e = {0};
    if (dp_tokenizer_decode(t, &oob[0], 1, 0, &bad, &e) == DP_OK ||
        dp_tokenizer_decode(t, &oob[1], 1, 0, &bad, &e) == DP_OK)
        abort();
    dp_buf_free(&bad);
    const char *tmpl = dp_tokenizer_chat_template(t);
    if (tmpl) fz_sink(fz_touch(tmpl, strlen(tmpl)));
    dp_chat_kind kind;
    if (dp_tokenizer_chat_kind(t, NULL, &kind, &e) == DP_OK) {
        dp_chat_msg msgs[3] = {{"system", "be brief"}, {"user", "hi <|eot_id|> there"}, {"assistant", "ok"}};
        dp_buf out = {0};
        if (dp_chat_apply(kind, msgs, 3, true, &out, &e) == DP_OK && !out.oom)
            fz_tok_roundtrip(t, out.data, out.len, true, true);
        dp_buf_free(&out);
    }
    static const char *const texts[] = {
        "Hello world! don't 12345 \xc3\xa9t\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c\n\n  x\t\ty",
        "<|begin_of_text|><s></s><unk><0x41> <|eot_id|>",
        "\xff\xfe\xc3\xed\xa0\x80 \xf0\x9f\x98",
        "   ",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (int f = 0; f < 4; f++) fz_tok_roundtrip(t, texts[i], strlen(texts[i]), f & 1, f & 2);
    if (extra && extra_n) fz_tok_roundtrip(t, (const char *)extra, extra_n, true, true);
}

#endif
