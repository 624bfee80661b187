#include "testutil.h"

#include "base/base.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

int t_failures = 0;
static int t_parts_skipped = 0;

void t_skip_part(const char *what) {
    printf("%s: not run (skipped)\n", what);
    t_parts_skipped++;
}

/* root (env var, else dflt) / mid / rel into a static buffer; NULL if it does not exist */
static const char *existing(const char *env, const char *dflt, const char *mid, const char *rel) {
    static char path[4096];
    const char *root = getenv(env);
    if (!root) root = dflt;
    snprintf(path, sizeof path, "%s/%s%s", root, mid, rel);
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

const char *t_shared(const char *rel) { return existing("DP_SHARED", "../shared", "", rel); }

const char *t_data(const char *rel) { return existing("DP_ROOT", ".", "tests/data/", rel); }

const char *t_tmpdir(const char *name) {
    static char path[4096];
    const char *root = getenv("DP_TMP");
    if (!root) root = "/tmp";
    char cmd[8400];
    snprintf(path, sizeof path, "%s/%s", root, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) fprintf(stderr, "cannot make %s\n", path);
    return path;
}

const char *t_tool(void) {
    const char *t = getenv("DP_TOOL");
    return t ? t : "./doppler";
}

int t_done(const char *name) {
    if (t_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
        return 1;
    }
    if (t_parts_skipped) {
        printf("%s: ok, but %d part(s) skipped\n", name, t_parts_skipped);
        return TEST_SKIP;
    }
    printf("%s: ok\n", name);
    return 0;
}

struct dp_tokenizer *t_bytes_tokenizer(void) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    dp_buf f = {0};
    for (int c = 0; c < 256; c++) {
        char line[16];
        snprintf(line, sizeof line, "%c%c== %d\n", b64[c >> 2], b64[(c & 3) << 4], c);
        dp_buf_puts(&f, line);
    }
    dp_tokenizer *t = NULL;
    dp_error e = {0};
    CHECK_MSG(dp_tokenizer_load_tiktoken(f.data, f.len, &t, &e) == DP_OK, "bytes-only vocab: %s", e.msg);
    dp_buf_free(&f);
    return t;
}

char *t_spm_json(const char *const *pieces, size_t n_pieces, const char *const *merges, size_t n_merges) {
    dp_buf b = {0};
    dp_buf_puts(&b, "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,\"content\":\"<s>\","
                    "\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],\"normalizer\":{\"type\":"
                    "\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},{\"type\":\"Replace\","
                    "\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]},\"pre_tokenizer\":null,"
                    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
                    "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},"
                    "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,"
                    "\"<s>\":1,\"</s>\":2");
    int id = 3;
    for (int c = 0; c < 256; c++, id++) dp_buf_printf(&b, ",\"<0x%02X>\":%d", c, id);
    for (size_t i = 0; i < n_pieces; i++, id++) dp_buf_printf(&b, ",\"%s\":%d", pieces[i], id);
    dp_buf_puts(&b, "},\"merges\":[");
    for (size_t i = 0; i < n_merges; i++) dp_buf_printf(&b, "%s\"%s\"", i ? "," : "", merges[i]);
    dp_buf_puts(&b, "]}}");
    if (b.oom) {
        dp_buf_free(&b);
        return NULL;
    }
    return b.data;
}

double t_max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return d;
        if (d > m) m = d;
    }
    return m;
}
