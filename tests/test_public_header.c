/* test_public_header.c — include/doppler.h compiles on its own as plain C11 and its basic
 * contracts hold (status strings, NULL-safe frees, argument checks), and the tokenizer API
 * round-trips text with the caller's buffers and names chat templates (Llama 3's tokenizer.json from ../shared when
 * present). */
#include "doppler.h"

#include <string.h>

#include "testutil.h"

int main(void) {
    CHECK(strcmp(dp_status_str(DP_OK), dp_status_str(DP_ERR_NOMEM)) != 0);
    CHECK(dp_status_str((dp_status)12345) != NULL);
    dp_model_free(NULL);
    dp_ctx_free(NULL);
    dp_error e = {0};
    dp_model *m = NULL;
    CHECK(dp_model_load(NULL, NULL, &m, &e) == DP_ERR_INVALID_ARG && e.msg[0] && !m);
    CHECK(dp_model_load("/nonexistent/model", NULL, &m, &e) != DP_OK && e.msg[0] && !m);

    dp_tokenizer_free(NULL);
    dp_tokenizer *t = NULL;
    CHECK(dp_tokenizer_load("/nonexistent/tokenizer.json", &t, &e) != DP_OK && e.msg[0] && !t);
    const char *path = t_shared("fixtures/tokenizers/llama3-tokenizer.json");
    if (path && dp_tokenizer_load(path, &t, &e) == DP_OK) {
        const char *text = "Hello world, caf\xc3\xa9 <|eot_id|>";
        size_t n = 0, len = 0;
        int32_t ids[64];
        char out[128];
        CHECK(dp_tokenizer_n_vocab(t) == 128256 && dp_tokenizer_bos(t) == 128000);
        /* ask for the count, then too small a buffer, then enough */
        CHECK(dp_tokenize(t, text, strlen(text), 1, 1, NULL, 0, &n, &e) == DP_ERR_LIMIT && n > 3);
        size_t need = n;
        ids[0] = -7;
        CHECK(dp_tokenize(t, text, strlen(text), 1, 1, ids, need - 1, &n, &e) == DP_ERR_LIMIT &&
              n == need && ids[0] == -7);
        CHECK(dp_tokenize(t, text, strlen(text), 1, 1, ids, 64, &n, &e) == DP_OK && n == need);
        CHECK(ids[0] == 128000 && ids[n - 1] == 128009); /* BOS ... <|eot_id|> as one token */
        /* without specials rendered, BOS and <|eot_id|> vanish */
        CHECK(dp_detokenize(t, ids, n, 0, out, sizeof out, &len, &e) == DP_OK);
        CHECK(len == strlen("Hello world, caf\xc3\xa9 ") && !memcmp(out, "Hello world, caf\xc3\xa9 ", len) &&
              out[len] == '\0');
        CHECK(dp_detokenize(t, ids, n, 1, out, sizeof out, &len, &e) == DP_OK);
        CHECK(!strcmp(out, "<|begin_of_text|>Hello world, caf\xc3\xa9 <|eot_id|>"));
        CHECK(dp_detokenize(t, ids, n, 1, out, len, &len, &e) == DP_ERR_LIMIT); /* no room for NUL */
        CHECK(dp_detokenize(t, ids, n, 1, NULL, 0, &len, &e) == DP_ERR_LIMIT && len == strlen(out));
        int32_t bad = 128256;
        CHECK(dp_detokenize(t, &bad, 1, 0, out, sizeof out, &len, &e) == DP_ERR_INVALID_ARG && e.msg[0]);
        CHECK(dp_tokenize(t, NULL, 3, 0, 0, ids, 64, &n, &e) == DP_ERR_INVALID_ARG);
        CHECK(dp_tokenize(t, "", 0, 0, 0, NULL, 0, &n, &e) == DP_OK && n == 0);
        /* the template dp_chat_render uses, by name: the family's, a named one, none */
        const char *name = "untouched";
        CHECK(dp_chat_template_name(t, "llama", NULL, &name, &e) == DP_OK && !strcmp(name, "llama3"));
        CHECK(dp_chat_template_name(t, NULL, "chatml", &name, &e) == DP_OK && !strcmp(name, "chatml"));
        name = "untouched";
        CHECK(dp_chat_template_name(t, NULL, "no-such-template", &name, &e) == DP_ERR_UNSUPPORTED && e.msg[0] &&
              !strcmp(name, "untouched"));
        CHECK(dp_chat_template_name(t, NULL, NULL, NULL, &e) == DP_ERR_INVALID_ARG);
        dp_tokenizer_free(t);
    } else {
        t_skip_part("no llama3 tokenizer in ../shared: the tokenizer round trip");
    }
    return t_done("test_public_header");
}
