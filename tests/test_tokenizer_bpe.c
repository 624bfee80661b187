/* test_tokenizer_bpe.c — the merge loop (pair table, linear scan and heap paths) against a
 * literal transcription of tiktoken's byte-pair merge: repeatedly join the adjacent parts whose
 * concatenation has the lowest rank, leftmost first. Random vocabularies over {a, b, c} with
 * random ranks, random words of 1..400 letters (one pre-token each), and, when the fixture is
 * present, random letter runs with the real Llama 3 ranks. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tokenizer/tokenizer.h"

static uint64_t rng = 0x1234567;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* tiktoken reference; ranks are ids, looked up by text */
static size_t reference(const dp_tokenizer *t, const char *s, size_t n, int32_t *out) {
    int32_t whole = dp_tokenizer_find(t, s, n);
    if (whole >= 0) {
        out[0] = whole;
        return 1;
    }
    size_t *start = malloc((n + 1) * sizeof *start), parts = n;
    for (size_t i = 0; i <= n; i++) start[i] = i;
    for (;;) {
        int32_t best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < parts; i++) {
            int32_t r = dp_tokenizer_find(t, s + start[i], start[i + 2] - start[i]);
            if (r >= 0 && (best < 0 || r < best)) best = r, bi = i;
        }
        if (best < 0) break;
        memmove(start + bi + 1, start + bi + 2, (parts - bi - 1) * sizeof *start);
        parts--;
    }
    for (size_t i = 0; i < parts; i++) out[i] = dp_tokenizer_find(t, s + start[i], start[i + 1] - start[i]);
    free(start);
    return parts;
}

static void compare(const char *name, const dp_tokenizer *t, const char *s, size_t n) {
    int32_t *want = malloc((n + 1) * sizeof *want);
    size_t nw = reference(t, s, n, want);
    dp_tokens got = {0};
    CHECK(dp_tokenizer_encode(t, s, n, false, false, &got, NULL) == DP_OK);
    bool same = got.n == nw && !memcmp(got.ids, want, nw * sizeof *want);
    CHECK_MSG(same, "%s: %zu-byte word \"%.60s\": %zu ids, reference %zu", name, n, s, got.n, nw);
    dp_tokens_free(&got);
    free(want);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(dp_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(uint8_t)s[i + 1] << 8;
        if (i + 2 < n) v |= (uint8_t)s[i + 2];
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=', i + 2 < n ? B64[v & 63] : '='};
        dp_buf_append(b, q, 4);
    }
}

/* every byte, then a random subset of the strings over {a,b,c} of length 2..7, ranked randomly */
static dp_tokenizer *random_vocab(int density) {
    char (*words)[8] = malloc(4000 * sizeof *words);
    size_t nw = 0;
    for (int len = 2; len <= 7; len++) {
        int total = 1;
        for (int k = 0; k < len; k++) total *= 3;
        for (int x = 0; x < total; x++) {
            if ((int)(rnd() % 100) >= density) continue;
            int v = x;
            for (int k = 0; k < len; k++, v /= 3) words[nw][k] = (char)("abc"[v % 3]);
            words[nw][len] = 0;
            nw++;
        }
    }
    for (size_t i = nw; i > 1; i--) { /* shuffle: random ranks */
        size_t j = rnd() % i;
        char tmp[8];
        memcpy(tmp, words[i - 1], 8);
        memcpy(words[i - 1], words[j], 8);
        memcpy(words[j], tmp, 8);
    }
    dp_buf f = {0};
    int id = 0;
    for (int c = 0; c < 256; c++, id++) {
        char ch = (char)c;
        b64(&f, &ch, 1);
        dp_buf_printf(&f, " %d\n", id);
    }
    for (size_t i = 0; i < nw; i++, id++) {
        b64(&f, words[i], strlen(words[i]));
        dp_buf_printf(&f, " %d\n", id);
    }
    free(words);
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_tokenizer_load_tiktoken(f.data, f.len, &t, &e) == DP_OK, "random vocab: %s", e.msg);
    dp_buf_free(&f);
    return t;
}

int main(void) {
    char word[512];
    for (int v = 0; v < 6; v++) {
        dp_tokenizer *t = random_vocab(v < 3 ? 60 : 15);
        for (int k = 0; t && k < 400; k++) {
            size_t n = 1 + rnd() % (k < 200 ? 40 : 400);
            for (size_t i = 0; i < n; i++) word[i] = "abc"[rnd() % 3 < 2 ? 0 : 1 + rnd() % 2];
            word[n] = 0;
            compare("random vocab", t, word, n);
        }
        dp_tokenizer_free(t);
    }
    const char *p = t_shared("fixtures/tokenizers/llama3-tokenizer.model");
    if (p) {
        dp_tokenizer *t = NULL;
        CHECK(dp_tokenizer_load(p, &t, NULL) == DP_OK);
        static const char *const letters[] = {"etaoinshrdlu", "aaaab", "xyzq", "ab"};
        for (int k = 0; t && k < 600; k++) {
            const char *al = letters[k % 4];
            size_t na = strlen(al), n = 1 + rnd() % 300;
            for (size_t i = 0; i < n; i++) word[i] = al[rnd() % na];
            word[n] = 0;
            compare("llama3", t, word, n);
        }
        dp_tokenizer_free(t);
    }
    return t_done("test_tokenizer_bpe");
}
