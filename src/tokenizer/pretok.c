/* pretok.c — the GPT-2, Llama 3 and Qwen 2 pre-tokenizer regexes, written out by hand.
 *
 * Each function returns where the regex's leftmost-first match starting at pos ends, following
 * the alternatives in order with the backtracking a regex engine would do:
 *
 *   GPT-2:  's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 *   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
 *            | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *   Qwen 2: as Llama 3 with \p{N} instead of \p{N}{1,3}
 *
 * Every code point is a letter, number, white space or other, so some alternative always
 * matches and the pieces tile the text. \s is the Unicode White_Space property. (?i) uses simple
 * case folding: among the contraction letters only 's' has a non-ASCII fold, U+017F (long s),
 * honoured when fold_long_s is set. Bytes that are not valid UTF-8 count as "other". */
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

typedef struct ch {
    uint32_t cp;
    size_t len;
    int cls;
} ch;

static inline ch char_at(const uint8_t *s, size_t n, size_t pos) {
    ch c;
    if (s[pos] < 0x80) {
        c.cp = s[pos];
        c.len = 1;
    } else {
        c.cp = dp_utf8_decode(s + pos, n - pos, &c.len);
    }
    c.cls = c.cp == DP_UTF8_INVALID ? DP_UCLS_OTHER : dp_unicode_class(c.cp);
    return c;
}

static inline size_t run_of(const uint8_t *s, size_t n, size_t pos, int cls) {
    while (pos < n) {
        if (s[pos] < 0x80) {
            /* ASCII fast path */
            uint8_t b = s[pos];
            int c = ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') ? DP_UCLS_LETTER
                  : (b >= '0' && b <= '9')                   ? DP_UCLS_NUMBER
                  : (b == ' ' || (b >= 9 && b <= 13))        ? DP_UCLS_SPACE
                                                             : DP_UCLS_OTHER;
            if (c != cls) break;
            pos++;
            continue;
        }
        ch c = char_at(s, n, pos);
        if (c.cls != cls) break;
        pos += c.len;
    }
    return pos;
}

static inline uint32_t fold(uint32_t cp, bool ci, bool long_s) {
    if (!ci) return cp;
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (long_s && cp == 0x17F) return 's';
    return cp;
}

/* 's 't 're 've 'm 'll 'd at pos (s[pos] == '\''); 0 when none. */
static size_t contraction(const uint8_t *s, size_t n, size_t pos, bool ci, bool long_s) {
    size_t p = pos + 1;
    if (p >= n) return 0;
    ch c1 = char_at(s, n, p);
    uint32_t a = fold(c1.cp, ci, long_s);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return p + c1.len;
    if (a != 'r' && a != 'v' && a != 'l') return 0;
    size_t q = p + c1.len;
    if (q >= n) return 0;
    ch c2 = char_at(s, n, q);
    uint32_t b = fold(c2.cp, ci, long_s);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return q + c2.len;
    return 0;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+ — at pos, a white-space char. crlf: try the first alternative. */
static size_t spaces(const uint8_t *s, size_t n, size_t pos, bool crlf) {
    size_t j = pos, last_start = pos, last_nl = SIZE_MAX, count = 0;
    while (j < n) {
        ch c = char_at(s, n, j);
        if (c.cls != DP_UCLS_SPACE) break;
        if (c.cp == '\r' || c.cp == '\n') last_nl = j;
        last_start = j;
        j += c.len;
        count++;
    }
    if (crlf && last_nl != SIZE_MAX) return last_nl + 1;
    if (j == n) return j;
    if (count >= 2) return last_start;
    return j;
}

static size_t next_gpt2(const uint8_t *s, size_t n, size_t pos) {
    ch c0 = char_at(s, n, pos);
    if (c0.cp == '\'') {
        size_t e = contraction(s, n, pos, false, false);
        if (e) return e;
    }
    size_t start = pos;
    int cls = c0.cls;
    if (c0.cp == ' ' && pos + 1 < n) {
        ch c1 = char_at(s, n, pos + 1);
        if (c1.cls != DP_UCLS_SPACE) {
            start = pos + 1;
            cls = c1.cls;
        }
    }
    if (cls != DP_UCLS_SPACE) return run_of(s, n, start, cls);
    return spaces(s, n, pos, false);
}

static size_t next_llama3(const uint8_t *s, size_t n, size_t pos, int max_digits, bool long_s) {
    ch c0 = char_at(s, n, pos);
    if (c0.cp == '\'') {
        size_t e = contraction(s, n, pos, true, long_s);
        if (e) return e;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0.cls == DP_UCLS_LETTER) return run_of(s, n, pos, DP_UCLS_LETTER);
    size_t p1 = pos + c0.len;
    ch c1 = {0, 0, -1};
    if (p1 < n) c1 = char_at(s, n, p1);
    if (c0.cp != '\r' && c0.cp != '\n' && c0.cls != DP_UCLS_NUMBER && c1.cls == DP_UCLS_LETTER)
        return run_of(s, n, p1, DP_UCLS_LETTER);
    /* \p{N}{1,3} */
    if (c0.cls == DP_UCLS_NUMBER) {
        size_t p = pos;
        for (int k = 0; k < max_digits && p < n; k++) {
            ch c = char_at(s, n, p);
            if (c.cls != DP_UCLS_NUMBER) break;
            p += c.len;
        }
        return p;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t start = SIZE_MAX;
    if (c0.cls == DP_UCLS_OTHER) start = pos;
    else if (c0.cp == ' ' && c1.cls == DP_UCLS_OTHER) start = p1;
    if (start != SIZE_MAX) {
        size_t p = run_of(s, n, start, DP_UCLS_OTHER);
        while (p < n && (s[p] == '\r' || s[p] == '\n')) p++;
        return p;
    }
    /* c0 is white space */
    return spaces(s, n, pos, true);
}

size_t dp_pretok_next(dp_pretok kind, bool fold_long_s, const uint8_t *s, size_t n, size_t pos) {
    switch (kind) {
    case DP_PRETOK_GPT2: return next_gpt2(s, n, pos);
    case DP_PRETOK_LLAMA3: return next_llama3(s, n, pos, 3, fold_long_s);
    case DP_PRETOK_QWEN2: return next_llama3(s, n, pos, 1, fold_long_s);
    case DP_PRETOK_NONE: break;
    }
    return n;
}
