/* fuzz_tok_encode.c — src/tokenizer: encode on arbitrary bytes with real tokenizers.
 *
 * At start-up the target loads every tokenizer it can find: the shared fixtures ($DP_SHARED/
 * fixtures/tokenizers: Llama 3 tiktoken and tokenizer.json, GPT-2, Llama SPM and Phi-3 GGUF
 * vocabularies) and the committed synthetic seeds of the loader targets. Input byte 0 picks the
 * tokenizer, byte 1 the flags (add_special, parse_special), the rest is the text. Every id must
 * be in range, decode and streaming decode must succeed (the stream writing valid UTF-8), and
 * for lossless tokenizers (byte-level, or SentencePiece with all 256 byte tokens) without
 * special parsing, decode(encode(text)) must give the text back byte for byte (unless a
 * user-defined token was split out, or SentencePiece text holds a literal U+2581: see below). */
#include <sys/stat.h>

#include "fuzz_tok.h"

#include "format/gguf.h"
#include "tokenizer/tok_internal.h"

#ifndef DP_FUZZ_SRC_DIR
#define DP_FUZZ_SRC_DIR "fuzz"
#endif

#define MAX_TOK 16
static dp_tokenizer *g_tok[MAX_TOK];
static bool g_lossless[MAX_TOK];
static int g_n;

static void add(const char *path) {
    struct stat st;
    if (g_n == MAX_TOK || stat(path, &st) != 0) return;
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load(path, &t, &e) != DP_OK) {
        fprintf(stderr, "fuzz_tok_encode: %s: %s\n", path, e.msg);
        return;
    }
    /* lossless: every byte can be spelled (byte-level alphabet or <0xXX> tokens) */
    bool all = true;
    for (int b = 0; b < 256 && all; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        uint8_t c = (uint8_t)b;
        int32_t id = dp_tokenizer_find(t, (const char *)&c, 1);
        bool ok = id >= 0 && dp_tokenizer_type(t, id) == DP_TOKT_NORMAL;
        id = dp_tokenizer_find(t, hex, 6);
        ok = ok || (id >= 0 && dp_tokenizer_type(t, id) == DP_TOKT_BYTE);
        all = ok;
    }
    g_lossless[g_n] = all;
    fprintf(stderr, "fuzz_tok_encode: tokenizer %d: %s (%s)%s\n", g_n, path, dp_tokenizer_describe(t),
            all ? ", lossless" : "");
    g_tok[g_n++] = t;
}

static void free_all(void) {
    for (int i = 0; i < g_n; i++) dp_tokenizer_free(g_tok[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *shared = getenv("DP_SHARED");
    char p[1024];
    static const char *const files[] = {"llama3-tokenizer.model", "llama3-tokenizer.json", "ggml-vocab-gpt-2.gguf",
                                        "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/fixtures/tokenizers/%s", shared && *shared ? shared : DP_FUZZ_SRC_DIR "/../../shared",
                 files[i]);
        add(p);
    }
    static const char *const seeds[] = {"tok_tiktoken/seeds/bytes-and-words.tiktoken", "tok_hfjson/seeds/bpe.json",
                                        "tok_hfjson/seeds/spm.json", "tok_gguf/seeds/vocab-bpe.gguf",
                                        "tok_gguf/seeds/vocab-spm.gguf"};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", DP_FUZZ_SRC_DIR, seeds[i]);
        add(p);
    }
    if (g_n == 0) {
        fprintf(stderr, "fuzz_tok_encode: no tokenizer could be loaded\n");
        abort();
    }
    atexit(free_all);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const dp_tokenizer *t = g_tok[data[0] % g_n];
    bool lossless = g_lossless[data[0] % g_n];
    bool add_special = data[1] & 1, parse_special = data[1] & 2;
    const char *text = (const char *)data + 2;
    size_t n = size - 2;
    fz_begin(size);
    /* an exact-size copy so reads past the text are caught */
    char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    if (n) memcpy(copy, text, n);
    fz_tok_roundtrip(t, copy, n, add_special, parse_special);
    if (lossless && !(data[1] & 4)) {
        dp_tokens ids = {0};
        dp_error e = {0};
        dp_buf out = {0};
        if (dp_tokenizer_encode(t, copy, n, false, false, &ids, &e) != DP_OK) abort();
        if (dp_tokenizer_decode(t, ids.ids, ids.n, 0, &out, &e) != DP_OK) abort();
        /* Not lossless by design: user-defined tokens are split out before anything else and
         * the text after one gets a SentencePiece dummy prefix again (llama.cpp's rule); and in
         * SentencePiece text a literal U+2581 is the escaped space, so it decodes as ' '. */
        bool user = false;
        for (size_t i = 0; i < ids.n && !user; i++) user = dp_tokenizer_type(t, ids.ids[i]) == DP_TOKT_USER;
        bool metaspace = false;
        for (size_t i = 0; t->escape_spaces && i + 3 <= n && !metaspace; i++)
            metaspace = !memcmp(copy + i, "\xe2\x96\x81", 3);
        if (!user && !metaspace && (out.len != n || (n && memcmp(out.data, copy, n) != 0))) {
            fprintf(stderr, "fuzz_tok_encode: decode(encode(text)) differs for tokenizer %d (%s): %zu bytes in, %zu out\n",
                    data[0] % g_n, dp_tokenizer_describe(t), n, out.len);
            abort();
        }
        dp_buf_free(&out);
        dp_tokens_free(&ids);
    }
    free(copy);
    fz_end();
    return 0;
}
