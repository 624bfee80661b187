/* fuzz_gguf_import.c — src/model/convert_gguf.c: a GGUF model file (the input, written to a
 * scratch file) through dp_convert_gguf into a scratch RDRR folder, keeping quantized tensors;
 * whatever converts is opened and verified with the RDRR reader. This covers the mapping of
 * llama.cpp metadata onto the model description (sizes, rope scaling and factor tensors,
 * sliding-window patterns, token ids), the tensor-name mapping (fused q/k/v, stacked experts),
 * row reads and the tokenizer.gguf copy. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "format/rdrr.h"
#include "model/write.h"

static char g_dir[256], g_in[300], g_out[300];

static void rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                char p[1024];
                snprintf(p, sizeof p, "%s/%s", path, de->d_name);
                rm_tree(p);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void cleanup(void) { rm_tree(g_dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/dp-fuzz-gguf-import-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("fuzz_gguf_import: mkdtemp");
        abort();
    }
    snprintf(g_in, sizeof g_in, "%s/in.gguf", g_dir);
    snprintf(g_out, sizeof g_out, "%s/out", g_dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_in, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    rm_tree(g_out);
    fz_begin(size);
    dp_write_opts o = {0};
    o.recipe = DP_RECIPE_KEEP;
    o.shard_max = 4096; /* several shards even for tiny models */
    dp_error e = {0};
    if (dp_convert_gguf(g_in, g_out, &o, &e) == DP_OK) {
        dp_rdrr *m = NULL;
        if (dp_rdrr_open(g_out, &m, &e) != DP_OK || dp_rdrr_verify(m, &e) != DP_OK) {
            fprintf(stderr, "fuzz_gguf_import: converted model does not verify: %s\n", e.msg);
            abort();
        }
        dp_rdrr_free(m);
    } else if (!e.msg[0]) {
        abort();
    } else if (getenv("FZ_VERBOSE")) {
        fprintf(stderr, "fuzz_gguf_import: %s\n", e.msg);
    }
    fz_end();
    return 0;
}
