/* unicode.h — the little Unicode the tokenizers need: strict UTF-8 decoding and a code point
 * class (letter / number / white space / other) from generated tables (unicode_tables.c, made by
 * scripts/gen_unicode_tables.py). Internal to src/tokenizer. */
#ifndef DP_TOK_UNICODE_H
#define DP_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum dp_ucls { DP_UCLS_OTHER = 0, DP_UCLS_LETTER = 1, DP_UCLS_NUMBER = 2, DP_UCLS_SPACE = 3 };

/* Returned by dp_utf8_decode for a byte that does not start a valid sequence (overlong forms,
 * surrogates U+D800..DFFF, values past U+10FFFF, truncated or stray continuation bytes). Such a
 * byte is one unit of its own (length 1) of class OTHER, so hostile text stays lossless. */
#define DP_UTF8_INVALID 0xFFFFFFFFu

extern const char dp_unicode_version[];
extern const uint8_t dp_unicode_stage1[0x110000 >> 8];
extern const uint8_t dp_unicode_stage2[][64];

static inline int dp_unicode_class(uint32_t cp) {
    if (cp >= 0x110000) return DP_UCLS_OTHER;
    const uint8_t *blk = dp_unicode_stage2[dp_unicode_stage1[cp >> 8]];
    return (blk[(cp & 0xFF) >> 2] >> ((cp & 3) * 2)) & 3;
}

/* Decodes the sequence at s (n > 0 bytes available) and stores its byte length in *len. */
static inline uint32_t dp_utf8_decode(const uint8_t *s, size_t n, size_t *len) {
    uint32_t c = s[0];
    *len = 1;
    if (c < 0x80) return c;
    if (c < 0xC2 || c > 0xF4) return DP_UTF8_INVALID;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return DP_UTF8_INVALID;
        *len = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3Fu);
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return DP_UTF8_INVALID;
        uint32_t cp = ((c & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return DP_UTF8_INVALID;
        *len = 3;
        return cp;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return DP_UTF8_INVALID;
    uint32_t cp = ((c & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    if (cp < 0x10000 || cp > 0x10FFFF) return DP_UTF8_INVALID;
    *len = 4;
    return cp;
}

/* Byte length of the unit starting at s: a valid sequence's length, else 1. */
static inline size_t dp_utf8_unit_len(const uint8_t *s, size_t n) {
    size_t len;
    if (s[0] < 0x80) return 1;
    (void)dp_utf8_decode(s, n, &len);
    return len;
}

/* Writes cp as UTF-8 into out (4 bytes room); returns the length (0 for invalid cp). */
static inline size_t dp_utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | (cp >> 6)); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        out[0] = (uint8_t)(0xE0 | (cp >> 12)); out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return 0;
    out[0] = (uint8_t)(0xF0 | (cp >> 18)); out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

#endif /* DP_TOK_UNICODE_H */
