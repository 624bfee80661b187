#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

int t_failures = 0;

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
