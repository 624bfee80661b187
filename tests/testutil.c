#include "testutil.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

double t_max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as failure */
    }
    return m;
}

int t_done(const char *name) {
    if (t_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}
