/* test_tokenizer_vectors.c — conformance with the vectors in fixtures/tokenizers:
 *   ggml-vocab-{phi-3,llama-spm,gpt-2}.gguf with their .inp/.out (llama.cpp's golden files),
 *   ggml-vocab-llama-bpe .inp/.out with the Llama 3 tokenizer.json and the tiktoken file,
 *   llama3-tiktoken-vectors.json with both Llama 3 loaders (ids_with_special parsed with specials),
 * and decode(encode(x)) == x on every text. Skips (77) when the fixtures are absent. */
#include <string.h>

#include "base/json.h"
#include "format/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static char *read_all(const char *path, size_t *n) {
    char *data = NULL;
    dp_error e = {0};
    if (dp_file_read_all(path, (size_t)64 << 20, &data, n, &e) != DP_OK) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        return NULL;
    }
    return data;
}

static dp_tokenizer *load(const char *path) {
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load(path, &t, &e) != DP_OK) {
        fprintf(stderr, "load %s: %s\n", path, e.msg);
        t_failures++;
        return NULL;
    }
    return t;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

/* encode text, compare with want; then check the round trip. Returns true when equal. */
static bool check_one(dp_tokenizer *t, const char *name, const char *text, size_t n, const int32_t *want, size_t nw,
                      bool special) {
    dp_tokens got = {0};
    dp_error e = {0};
    bool ok = dp_tokenizer_encode(t, text, n, false, special, &got, &e) == DP_OK;
    if (!ok) fprintf(stderr, "%s: encode failed: %s\n", name, e.msg);
    bool same = ok && got.n == nw && (nw == 0 || !memcmp(got.ids, want, nw * sizeof *want));
    if (ok && !same) {
        fprintf(stderr, "%s: mismatch for \"%.80s\"\n", name, text);
        print_ids("want", want, nw);
        print_ids("got ", got.ids, got.n);
    }
    if (ok) {
        dp_buf back = {0};
        unsigned flags = special ? DP_DECODE_SPECIAL : 0;
        ok = dp_tokenizer_decode(t, got.ids, got.n, flags, &back, &e) == DP_OK;
        bool rt = ok && back.len == n && (n == 0 || !memcmp(back.data, text, n));
        CHECK_MSG(rt, "%s: decode(encode(x)) != x for \"%.80s\" (got \"%.80s\")", name, text, back.data ? back.data : "");
        dp_buf_free(&back);
    }
    dp_tokens_free(&got);
    return same;
}

/* ids from one line of an .out file */
static size_t parse_ids(const char *s, size_t n, int32_t *ids, size_t cap) {
    size_t k = 0, i = 0;
    while (i < n && k < cap) {
        while (i < n && s[i] == ' ') i++;
        if (i >= n) break;
        long v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        ids[k++] = (int32_t)v;
    }
    return k;
}

/* Runs the .inp/.out pair through t; returns the number of texts checked. */
static int run_inp_out(dp_tokenizer *t, const char *name, const char *inp_rel, const char *out_rel) {
    char inp_path[4096], out_path[4096];
    const char *p = t_shared(inp_rel);
    if (!p) return 0;
    snprintf(inp_path, sizeof inp_path, "%s", p);
    p = t_shared(out_rel);
    if (!p) return 0;
    snprintf(out_path, sizeof out_path, "%s", p);
    size_t ni = 0, no = 0;
    char *inp = read_all(inp_path, &ni), *out = read_all(out_path, &no);
    int count = 0, pass = 0;
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    const char *a = inp, *end = inp ? inp + ni : NULL, *line = out, *oend = out ? out + no : NULL;
    static int32_t want[65536];
    while (inp && out && a < end) {
        const char *sep = strstr(a, SEP);
        if (!sep) break;
        const char *nl = memchr(line, '\n', (size_t)(oend - line));
        if (!nl) nl = oend;
        size_t nw = parse_ids(line, (size_t)(nl - line), want, sizeof want / sizeof want[0]);
        char label[128];
        snprintf(label, sizeof label, "%s #%d", name, count);
        pass += check_one(t, label, a, (size_t)(sep - a), want, nw, false);
        count++;
        a = sep + sizeof SEP - 1;
        line = nl < oend ? nl + 1 : oend;
    }
    CHECK_MSG(count > 0, "%s: no vectors read", name);
    CHECK_MSG(pass == count, "%s: %d of %d vectors pass", name, pass, count);
    printf("%s: %d/%d vectors\n", name, pass, count);
    dp_free(inp);
    dp_free(out);
    return count;
}

static void run_tiktoken_json(dp_tokenizer *t, const char *name) {
    const char *p = t_shared("fixtures/tokenizers/llama3-tiktoken-vectors.json");
    if (!p) return;
    size_t n = 0;
    char *text = read_all(p, &n);
    dp_json_doc *doc = NULL;
    dp_error e = {0};
    if (!text || dp_json_parse(text, n, &doc, &e) != DP_OK) {
        CHECK_MSG(0, "cannot read %s: %s", p, e.msg);
        dp_free(text);
        return;
    }
    const dp_json *root = dp_json_root(doc);
    int count = 0, pass = 0, with_special = 0;
    for (size_t i = 0; i < root->len; i++) {
        const dp_json *it = &root->u.items[i];
        const dp_json *tx = dp_json_get(it, "text"), *ids = dp_json_get(it, "ids");
        const dp_json *ids_sp = dp_json_get(it, "ids_with_special");
        const char *s;
        if (!dp_json_str(tx, &s)) continue;
        bool special = ids_sp != NULL;
        const dp_json *use = special ? ids_sp : ids;
        if (!use) continue;
        int32_t *want = dp_malloc((use->len + 1) * sizeof *want);
        for (size_t k = 0; k < use->len; k++) {
            int64_t v = -1;
            dp_json_i64(&use->u.items[k], &v);
            want[k] = (int32_t)v;
        }
        char label[128];
        snprintf(label, sizeof label, "%s vector %zu%s", name, i, special ? " (specials)" : "");
        pass += check_one(t, label, s, tx->len, want, use->len, special);
        with_special += special;
        count++;
        dp_free(want);
    }
    CHECK_MSG(with_special > 0, "%s: no ids_with_special vector", name);
    CHECK_MSG(pass == count, "%s: %d of %d tiktoken vectors pass", name, pass, count);
    printf("%s: %d/%d tiktoken vectors (%d with specials)\n", name, pass, count, with_special);
    dp_json_free(doc);
    dp_free(text);
}

int main(void) {
    if (!t_shared("fixtures/tokenizers")) {
        printf("test_tokenizer_vectors: fixtures/tokenizers absent, skipped\n");
        return TEST_SKIP;
    }
    char path[4096];
    static const char *const gguf[] = {"phi-3", "llama-spm", "gpt-2"};
    for (size_t i = 0; i < 3; i++) {
        char rel[256], inp[300], out[300];
        snprintf(rel, sizeof rel, "fixtures/tokenizers/ggml-vocab-%s.gguf", gguf[i]);
        snprintf(inp, sizeof inp, "%s.inp", rel);
        snprintf(out, sizeof out, "%s.out", rel);
        const char *p = t_shared(rel);
        CHECK_MSG(p, "missing %s", rel);
        if (!p) continue;
        snprintf(path, sizeof path, "%s", p);
        dp_tokenizer *t = load(path);
        if (!t) continue;
        run_inp_out(t, gguf[i], inp, out);
        dp_tokenizer_free(t);
    }
    static const char *const llama3[] = {"llama3-tokenizer.json", "llama3-tokenizer.model"};
    for (size_t i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/tokenizers/%s", llama3[i]);
        const char *p = t_shared(rel);
        CHECK_MSG(p, "missing %s", rel);
        if (!p) continue;
        snprintf(path, sizeof path, "%s", p);
        dp_tokenizer *t = load(path);
        if (!t) continue;
        CHECK(dp_tokenizer_n_vocab(t) == 128256);
        CHECK(dp_tokenizer_bos(t) == 128000);
        CHECK(dp_tokenizer_eot(t) == 128009);
        CHECK(dp_tokenizer_is_eog(t, 128009) && dp_tokenizer_is_eog(t, 128001) && !dp_tokenizer_is_eog(t, 128000));
        run_inp_out(t, llama3[i], "fixtures/tokenizers/ggml-vocab-llama-bpe.gguf.inp",
                    "fixtures/tokenizers/ggml-vocab-llama-bpe.gguf.out");
        run_tiktoken_json(t, llama3[i]);
        dp_tokenizer_free(t);
    }
    return t_done("test_tokenizer_vectors");
}
