/* cmd_tokenize.c — `doppler tokenize <source> [--special]`: UTF-8 text on standard input -> token
 * ids, space-separated on one line, no BOS. `--special` turns special-token text into their ids.
 *
 * `doppler tokenize <source> --bench [FILE] [-r reps] [--mb N]` encodes and decodes FILE (or N MB
 * of generated mixed text: English, code, numbers, CJK, Cyrillic, emoji, white-space runs) on one
 * thread and prints MB/s. <source>: a model directory, tokenizer.json, tiktoken file or GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

#define USAGE "tokenize <source> [--special] | tokenize <source> --bench [FILE] [-r reps] [--mb N]"

static char *read_stream(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (len < cap) {
            if (ferror(f)) break;
            *n = len;
            return buf;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) break;
        buf = nb;
        cap *= 2;
    }
    free(buf);
    return NULL;
}

/* ---- generated benchmark text ---- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const char *const WORDS[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
    "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
    "who", "so", "no", "inference", "engine", "tokenizer", "browser", "WebGPU", "kernel", "matrix", "memory",
    "quantization", "transformer", "attention", "throughput", "latency", "Doppler", "model", "weights",
    "don't", "it's", "we're", "they've", "I'm", "you'll", "he'd", "naïve", "café", "résumé", "Zürich",
};
static const char *const CODE[] = {
    "for (int i = 0; i < n; i++) {\n    sum += a[i] * b[i];\n}\n",
    "def forward(self, x):\n        return self.proj(torch.relu(x)) + x\n",
    "const response = await fetch(`/shards/${hash}`, { method: 'GET' });\n",
    "if (status != DP_OK) return dp_err_set(e, DP_ERR_FORMAT, \"bad %s\", name);\n",
    "    <div class=\"container\"><span id='x'>&nbsp;</span></div>\n",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;\n",
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); }\n",
};
static const char *const OTHER[] = {
    "Привет, как дела? Это тест токенизатора. ",
    "東京は日本の首都です。今日は天気がいいですね。",
    "我们正在测试分词器的速度和正确性。",
    "한국어 텍스트도 포함되어 있습니다. ",
    "🚀🔥👍 ok 🎉 👨‍👩‍👧‍👦 ✨ ",
    "Ελληνικά γράμματα και λέξεις. ",
    "العربية نص قصير للاختبار. ",
};

static void gen_text(char *out, size_t n) {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    size_t len = 0;
    while (len < n) {
        char piece[512];
        size_t k = 0;
        uint64_t r = rng_next(&s) % 100;
        if (r < 55) { /* an English sentence */
            int w = 6 + (int)(rng_next(&s) % 14);
            for (int i = 0; i < w && k < 400; i++) {
                const char *word = WORDS[rng_next(&s) % (sizeof WORDS / sizeof WORDS[0])];
                k += (size_t)snprintf(piece + k, sizeof piece - k, "%s%s", i ? " " : "", word);
                if (i == 0 && piece[0] >= 'a' && piece[0] <= 'z') piece[0] = (char)(piece[0] - 32);
            }
            k += (size_t)snprintf(piece + k, sizeof piece - k, "%s", rng_next(&s) % 5 ? ". " : ".\n\n");
        } else if (r < 70) {
            k = (size_t)snprintf(piece, sizeof piece, "%s", CODE[rng_next(&s) % (sizeof CODE / sizeof CODE[0])]);
        } else if (r < 80) {
            k = (size_t)snprintf(piece, sizeof piece, "%llu, %.3f, %llu%% and 0x%llx; ",
                                 (unsigned long long)(rng_next(&s) % 10000000), (double)(rng_next(&s) % 100000) / 7.0,
                                 (unsigned long long)(rng_next(&s) % 100), (unsigned long long)(rng_next(&s) & 0xFFFFFF));
        } else if (r < 95) {
            k = (size_t)snprintf(piece, sizeof piece, "%s", OTHER[rng_next(&s) % (sizeof OTHER / sizeof OTHER[0])]);
        } else { /* white-space runs */
            int m = 1 + (int)(rng_next(&s) % 12);
            for (int i = 0; i < m; i++) piece[k++] = " \t\n "[rng_next(&s) % 4];
        }
        if (len + k > n) k = n - len;
        /* never cut a UTF-8 sequence at the end */
        while (len + k == n && k > 0 && ((unsigned char)piece[k - 1] & 0x80)) k--;
        if (k == 0) {
            memset(out + len, ' ', n - len);
            break;
        }
        memcpy(out + len, piece, k);
        len += k;
    }
}

static int bench(const char *cmd, dp_tokenizer *t, const char *file, long reps, long mb) {
    dp_error e = {0};
    char *text = NULL;
    size_t n = 0;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f || !(text = read_stream(f, &n))) {
            if (f) fclose(f);
            fprintf(stderr, "doppler %s: cannot read %s\n", cmd, file);
            return 1;
        }
        fclose(f);
    } else {
        n = (size_t)mb << 20;
        text = malloc(n);
        if (!text) return fprintf(stderr, "doppler %s: out of memory\n", cmd), 1;
        gen_text(text, n);
    }
    dp_tokens ids = {0};
    dp_buf back = {0};
    double best_enc = 1e30, best_dec = 1e30;
    int rc = 0;
    for (long r = 0; r < reps && !rc; r++) {
        ids.n = 0;
        double t0 = dp_time_now();
        if (dp_tokenizer_encode(t, text, n, false, false, &ids, &e) != DP_OK) rc = cli_fail(cmd, &e);
        double t1 = dp_time_now();
        back.len = 0;
        if (!rc && dp_tokenizer_decode(t, ids.ids, ids.n, 0, &back, &e) != DP_OK) rc = cli_fail(cmd, &e);
        double t2 = dp_time_now();
        if (t1 - t0 < best_enc) best_enc = t1 - t0;
        if (t2 - t1 < best_dec) best_dec = t2 - t1;
    }
    if (!rc) {
        double mbytes = (double)n / 1e6;
        bool same = back.len == n && !memcmp(back.data, text, n);
        printf("tokenizer: %s\n", dp_tokenizer_describe(t));
        printf("text: %.2f MB (%s), %zu tokens, %.2f bytes/token, best of %ld\n", mbytes,
               file ? file : "generated mixed text", ids.n, ids.n ? (double)n / (double)ids.n : 0.0, reps);
        printf("encode: %.1f MB/s (%.3f s)\n", mbytes / best_enc, best_enc);
        printf("decode: %.1f MB/s (%.3f s)\n", mbytes / best_dec, best_dec);
        printf("round trip: %s\n", same ? "identical" : "differs (the tokenizer is lossy on this text)");
    }
    dp_tokens_free(&ids);
    dp_buf_free(&back);
    free(text);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *source = NULL, *file = NULL;
    bool special = false, do_bench = false;
    long reps = 3, mb = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--bench")) {
            do_bench = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') file = argv[++i];
        } else if (!strcmp(a, "-r") && i + 1 < argc) {
            if (!cli_int(argv[0], "-r", argv[++i], 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "--mb") && i + 1 < argc) {
            if (!cli_int(argv[0], "--mb", argv[++i], 1, 1024, &mb)) return 2;
        } else if (a[0] == '-' && a[1]) return cli_usage(USAGE);
        else if (!source) source = a;
        else return cli_usage(USAGE);
    }
    if (!source) return cli_usage(USAGE);
    dp_error e = {0};
    dp_tokenizer *t = NULL;
    if (dp_tokenizer_load(source, &t, &e) != DP_OK) return cli_fail(argv[0], &e);
    int rc = 0;
    if (do_bench) {
        rc = bench(argv[0], t, file, reps, mb);
    } else {
        size_t n = 0;
        char *text = read_stream(stdin, &n);
        dp_tokens ids = {0};
        if (!text) {
            fprintf(stderr, "doppler %s: cannot read standard input\n", argv[0]);
            rc = 1;
        } else if (dp_tokenizer_encode(t, text, n, false, special, &ids, &e) != DP_OK) {
            rc = cli_fail(argv[0], &e);
        } else {
            for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.ids[i]);
            printf("\n");
            if (fflush(stdout) != 0) rc = 1;
        }
        dp_tokens_free(&ids);
        free(text);
    }
    dp_tokenizer_free(t);
    return rc;
}
