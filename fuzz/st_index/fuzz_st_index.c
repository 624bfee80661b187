/* fuzz_st_index.c — the sharded safetensors path of src/format/safetensors.h: the input is a
 * model.safetensors.index.json, written into a scratch folder that also holds a few small shard
 * files (two good ones, a corrupt one, an empty one, a FIFO and a directory), then opened with dp_st_open on the folder
 * and on the index file, and every tensor of a successful open is read. The index has no
 * in-memory entry point, so this target goes through the file system. */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "format/safetensors.h"

static char g_dir[256];
static char g_index[300];

static void put_file(const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_st_index: cannot write %s\n", path);
        abort();
    }
}

/* A safetensors file from a header text and data bytes. */
static void put_st(const char *name, const char *header, const void *payload, size_t n) {
    size_t h = strlen(header);
    uint8_t *b = malloc(8 + h + n);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (n) memcpy(b + 8 + h, payload, n);
    put_file(name, b, 8 + h + n);
    free(b);
}

static void cleanup(void) {
    const char *names[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                           "bad.safetensors", "empty.safetensors", "model.safetensors.index.json",
                           "fifo.safetensors"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/dir.safetensors", g_dir);
    rmdir(path);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/dp-fuzz-st-index-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("fuzz_st_index: mkdtemp");
        abort();
    }
    atexit(cleanup);
    snprintf(g_index, sizeof g_index, "%s/model.safetensors.index.json", g_dir);
    uint8_t d1[8 + 8] = {0}, d2[6 + 4] = {0};
    for (size_t i = 0; i < sizeof d1; i++) d1[i] = (uint8_t)(i * 7);
    put_st("model-00001-of-00002.safetensors",
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}", d1, sizeof d1);
    put_st("model-00002-of-00002.safetensors",
           "{\"__metadata__\":{\"format\":\"pt\"},"
           "\"c\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
           "\"d\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[6,10]}}", d2, sizeof d2);
    put_file("bad.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    put_file("empty.safetensors", "", 0);
    /* shards that are not regular files must be refused without blocking (issue 10) */
    char path[512];
    snprintf(path, sizeof path, "%s/fifo.safetensors", g_dir);
    if (mkfifo(path, 0644) != 0) abort();
    snprintf(path, sizeof path, "%s/dir.safetensors", g_dir);
    if (mkdir(path, 0755) != 0) abort();
    return 0;
}

static void use(dp_st *st) {
    size_t n = dp_st_count(st);
    for (size_t i = 0; i < n; i++) {
        const dp_st_tensor *t = dp_st_at(st, i);
        if (!t || dp_st_find(st, t->name) != t) abort();
        uint64_t numel = dp_st_numel(t);
        if (numel > 64 || t->size > 64) abort(); /* the shards are tiny */
        float buf[64];
        dp_error e = {0};
        if (dp_st_read(st, t, buf, &e) != DP_OK) abort();
        if (dp_st_read_f32(st, t, buf, &e) != DP_OK && t->dtype != DP_DTYPE_I32) abort();
    }
    const char *v = dp_st_metadata(st, "format");
    if (v) fz_sink(fz_touch(v, strlen(v)));
    dp_st_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    put_file("model.safetensors.index.json", data, size);
    fz_begin(size);
    dp_st *st = NULL;
    dp_error e = {0};
    if (dp_st_open(g_dir, &st, &e) == DP_OK) use(st);
    else if (!e.msg[0]) abort();
    memset(&e, 0, sizeof e);
    if (dp_st_open(g_index, &st, &e) == DP_OK) use(st);
    else if (!e.msg[0]) abort();
    fz_end();
    return 0;
}
