/* fuzz_tok_hfjson.c — src/tokenizer: dp_tokenizer_load_hfjson on arbitrary bytes.
 *
 * The input may hold the lines "#config" and "#text" (in that order): the bytes before the first
 * are tokenizer.json, between them tokenizer_config.json, after "#text" a text to encode (any
 * length). A tokenizer that loads is put through fuzz_tok.h (every accessor, encode/decode, chat
 * templates) and encodes the text. */
#include "fuzz_tok.h"

static const uint8_t *find(const uint8_t *p, size_t n, const char *m) {
    size_t k = strlen(m);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, m, k)) return p + i;
    return NULL;
}

static char *dup(const uint8_t *p, size_t n) {
    char *s = malloc(n ? n : 1);
    if (!s) abort();
    if (n) memcpy(s, p, n);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_begin(size);
    static const char CFG[] = "\n#config\n", TEXT[] = "\n#text\n";
    const uint8_t *end = data + size;
    const uint8_t *text = find(data, size, TEXT);
    const uint8_t *json_end = text ? text : end;
    const uint8_t *cfg = find(data, (size_t)(json_end - data), CFG);
    size_t n = (size_t)((cfg ? cfg : json_end) - data);
    char *json = dup(data, n), *config = NULL;
    size_t cn = 0;
    if (cfg) {
        cn = (size_t)(json_end - cfg) - (sizeof CFG - 1);
        config = dup(cfg + sizeof CFG - 1, cn);
    }
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    if (dp_tokenizer_load_hfjson(json, n, config, cn, &t, &e) == DP_OK) {
        fz_tok_use(t, data, size < 256 ? size : 256);
        if (text) {
            size_t tn = (size_t)(end - text) - (sizeof TEXT - 1);
            char *s = dup(text + sizeof TEXT - 1, tn);
            fz_tok_roundtrip(t, s, tn, false, false);
            fz_tok_roundtrip(t, s, tn, true, true);
            free(s);
        }
        dp_tokenizer_free(t);
    } else if (!e.msg[0]) {
        abort();
    }
    free(json);
    free(config);
    fz_end();
    return 0;
}
