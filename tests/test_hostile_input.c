/* test_hostile_input.c — issue 10's classes at the library: readers refuse what is not a regular
 * file without blocking; error messages are one escaped line; dp_sampling_check; dp_ctx_new's
 * bounds; manifest tokenizer hashes; no .tmp-*.part left by a failing shard writer. */
#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "format/rdrr.h"
#include "model/write.h"
#include "testutil.h"

static void test_not_regular(const char *tmp) {
    char fifo[512], dir[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmp);
    snprintf(dir, sizeof dir, "%s/dir", tmp);
    CHECK(mkfifo(fifo, 0644) == 0 && mkdir(dir, 0755) == 0);
    const char *paths[] = {fifo, dir, "/dev/null", "/dev/zero"};
    const char *what[] = {"FIFO", "directory", "device", "device"};
    for (int i = 0; i < 4; i++) {
        dp_error e = {0};
        char *data = NULL;
        size_t n = 0;
        CHECK(dp_file_read_all(paths[i], 1024, &data, &n, &e) == DP_ERR_IO && data == NULL);
        CHECK_MSG(strstr(e.msg, what[i]) && strstr(e.msg, "not a regular file"), "%s", e.msg);
        dp_reader r;
        CHECK(dp_reader_open_file(&r, paths[i], &e) == DP_ERR_IO);
        CHECK_MSG(strstr(e.msg, "not a regular file"), "%s", e.msg);
    }
    /* a model directory whose manifest is a FIFO */
    char mdir[512], man[600];
    snprintf(mdir, sizeof mdir, "%s/model", tmp);
    snprintf(man, sizeof man, "%s/manifest.json", mdir);
    CHECK(mkdir(mdir, 0755) == 0 && mkfifo(man, 0644) == 0);
    dp_rdrr *m = NULL;
    dp_error e = {0};
    CHECK(dp_rdrr_open(mdir, &m, &e) == DP_ERR_IO && m == NULL);
    CHECK_MSG(strstr(e.msg, "FIFO"), "%s", e.msg);
}

static void test_escape(void) {
    char out[64];
    CHECK(!strcmp(dp_str_escape(out, sizeof out, "plain é", 8), "plain é"));
    CHECK(!strcmp(dp_str_escape(out, sizeof out, "a\nb\r\t\x1b[31m", 10), "a\\nb\\r\\t\\x1b[31m"));
    CHECK(!strcmp(dp_str_escape(out, sizeof out, "\xc2\x9b" "x\xe2\x80\xae" "y\xe2\x80\xa8", 10), "\\u009bx\\u202ey\\u2028"));
    CHECK(!strcmp(dp_str_escape(out, sizeof out, "\xff\xc3(\x7f", 4), "\\xff\\xc3(\\x7f"));
    CHECK(!strcmp(dp_str_escape(out, sizeof out, "nul\0!", 5), "nul\\x00!"));
    /* cut between whole pieces */
    CHECK(!strcmp(dp_str_escape(out, 5, "ab\ncd", 5), "ab\\n"));
    CHECK(!strcmp(dp_str_escape(out, 4, "ab\ncd", 5), "ab"));
    CHECK(!strcmp(dp_str_escape(out, 4, "a\xc3\xa9z", 4), "a\xc3\xa9"));
    CHECK(!strcmp(dp_str_escape(out, 3, "a\xc3\xa9z", 4), "a"));
    /* idempotent: an escaped line escapes to itself */
    char twice[64];
    dp_str_escape(out, sizeof out, "x\n\x1b\xff\xe2\x80\xae", 7);
    CHECK(!strcmp(dp_str_escape(twice, sizeof twice, out, strlen(out)), out));
    /* every error message is one line */
    dp_error e = {0};
    dp_err_set(&e, DP_ERR_FORMAT, "tensor '%s' bad", "a\nb\x1b]0;title\x07");
    CHECK_MSG(!strcmp(e.msg, "tensor 'a\\nb\\x1b]0;title\\x07' bad"), "%s", e.msg);
    dp_err_prefix(&e, "family %s", "x\ny");
    CHECK_MSG(!strcmp(e.msg, "family x\\ny: tensor 'a\\nb\\x1b]0;title\\x07' bad"), "%s", e.msg);
    for (const char *p = e.msg; *p; p++) CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void test_sampling(void) {
    const dp_sampling good[] = {
        {0, 0, 1, 0}, {0.8f, 40, 0.95f, 1}, {1e30f, 1, 1e-6f, 0}, {1e-30f, 0, 0.5f, 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) CHECK(dp_sampling_check(&good[i], NULL) == DP_OK);
    CHECK(dp_sampling_check(NULL, NULL) == DP_OK);
    const dp_sampling badv[] = {
        {INFINITY, 0, 1, 0}, {NAN, 0, 1, 0}, {-1, 0, 1, 0}, {-INFINITY, 0, 1, 0}, {1e-45f, 0, 1, 0},
        {0.8f, 0, 5, 0},     {0.8f, 0, NAN, 0}, {0.8f, 0, 0, 0}, {0.8f, 0, -0.5f, 0}, {0.8f, -1, 1, 0},
    };
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
        dp_error e = {0};
        CHECK_MSG(dp_sampling_check(&badv[i], &e) == DP_ERR_INVALID_ARG, "case %zu accepted", i);
        CHECK_MSG(strstr(e.msg, "sampling:"), "case %zu: '%s'", i, e.msg);
    }
}

/* A tiny synthetic model (max_position_embeddings 64) for the context bounds. */
static void test_ctx_bounds(const char *tmp) {
    char cfg[512], dir[512];
    snprintf(cfg, sizeof cfg, "%s/cfg.json", tmp);
    snprintf(dir, sizeof dir, "%s/small", tmp);
    static const char text[] =
        "{\"model_type\":\"llama\",\"vocab_size\":64,\"hidden_size\":16,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"intermediate_size\":16,\"rms_norm_eps\":1e-5,"
        "\"max_position_embeddings\":64,\"tie_word_embeddings\":true,\"bos_token_id\":1}";
    dp_error e = {0};
    CHECK(dp_file_write_all(cfg, text, sizeof text - 1, &e) == DP_OK);
    dp_write_opts o = {0};
    o.n_threads = 1;
    if (dp_synth(NULL, NULL, cfg, dir, &o, &e) != DP_OK) {
        CHECK_MSG(0, "synth: %s", e.msg);
        return;
    }
    dp_model *m = NULL;
    CHECK(dp_model_load(dir, NULL, &m, &e) == DP_OK);
    if (!m) return;
    dp_ctx_params p;
    dp_ctx_params_default(&p);
    dp_ctx *c = NULL;
    p.n_ctx = 65;
    CHECK(dp_ctx_new(m, &p, &c, &e) == DP_ERR_LIMIT && c == NULL);
    CHECK_MSG(strstr(e.msg, "n_ctx 65") && strstr(e.msg, "maximum of 64 positions"), "%s", e.msg);
    p.n_ctx = 64;
    CHECK(dp_ctx_new(m, &p, &c, &e) == DP_OK);
    /* sampling settings are checked before anything is evaluated or sampled */
    int32_t ids[3] = {1, 2, 3}, tok = -1;
    CHECK(c && dp_ctx_eval(c, ids, 3, NULL, &e) == DP_OK);
    dp_sampling hot = {NAN, 0, 1, 0};
    CHECK(c && dp_ctx_sample(c, &hot, &tok, &e) == DP_ERR_INVALID_ARG && tok == -1);
    CHECK(c && dp_ctx_sample(c, NULL, &tok, &e) == DP_OK && tok >= 0 && tok < 64);
    dp_ctx_free(c);
    dp_model_free(m);
}

/* The manifest's tokenizer hashes: plain names and well-formed hashes, or the manifest is refused;
 * a file that differs, or one not listed, fails dp_rdrr_check_file; no hashes: everything passes. */
static void test_tokenizer_hashes(const char *tmp) {
    static const char *const badv[] = {
        "{\"../x\": \"sha256:%s\"}", "{\"a/b\": \"sha256:%s\"}", "{\"..\": \"sha256:%s\"}",
        "{\"\": \"sha256:%s\"}", "{\"a\\u0000b\": \"sha256:%s\"}", "{\"a\": \"md5:%s\"}", "[\"%s\"]",
    };
    const char *hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; /* of "" */
    char text[1024], h[256];
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
        snprintf(h, sizeof h, badv[i], hex);
        snprintf(text, sizeof text, "{\"format\":\"rdrr\",\"version\":1,\"model\":{},\"tokenizer\":{\"hashes\":%s},"
                 "\"shards\":[],\"tensors\":{}}", h);
        dp_rdrr *m = NULL;
        dp_error e = {0};
        CHECK_MSG(dp_rdrr_parse_manifest(text, strlen(text), &m, &e) == DP_ERR_FORMAT, "accepted %s", h);
        dp_rdrr_free(m);
    }
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/hashed", tmp);
    dp_error e = {0};
    CHECK(dp_mkdir_p(dir, &e) == DP_OK);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(dp_file_write_all(path, "", 0, &e) == DP_OK);
    for (int with = 0; with < 2; with++) {
        snprintf(text, sizeof text, "{\"format\":\"rdrr\",\"version\":1,\"model\":{},\"tokenizer\":{%s%s%s},"
                 "\"shards\":[],\"tensors\":{}}", with ? "\"hashes\":{\"tokenizer.json\":\"sha256:" : "",
                 with ? hex : "", with ? "\"}" : "");
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        CHECK(dp_file_write_all(path, text, strlen(text), &e) == DP_OK);
        dp_rdrr *m = NULL;
        CHECK_MSG(dp_rdrr_open(dir, &m, &e) == DP_OK, "%s", e.msg);
        CHECK(dp_rdrr_n_files(m) == (size_t)with);
        CHECK(dp_rdrr_check_file(m, "tokenizer.json", &e) == DP_OK && dp_rdrr_verify(m, &e) == DP_OK);
        CHECK(dp_rdrr_check_file(m, "tokenizer_config.json", &e) == (with ? DP_ERR_HASH : DP_OK));
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        CHECK(dp_file_write_all(path, " ", 1, &e) == DP_OK);
        CHECK(dp_rdrr_check_file(m, "tokenizer.json", &e) == (with ? DP_ERR_HASH : DP_OK));
        CHECK(dp_rdrr_verify(m, &e) == (with ? DP_ERR_HASH : DP_OK));
        CHECK(dp_file_write_all(path, "", 0, &e) == DP_OK);
        dp_rdrr_free(m);
    }
}

static bool has_part_file(const char *shards) {
    DIR *d = opendir(shards);
    bool found = false;
    for (struct dirent *de; d && (de = readdir(d));)
        if (!strncmp(de->d_name, ".tmp-", 5)) found = true;
    if (d) closedir(d);
    return found;
}

typedef struct fail_at {
    long calls, at;
} fail_at;

static void *failing_alloc(void *ud, void *ptr, size_t size) {
    fail_at *f = ud;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    if (++f->calls == f->at) return NULL;
    return realloc(ptr, size);
}

/* Fail each allocation of a three-shard write in turn (the shard bookkeeping after a close among
 * them): no failure may leave a .tmp-*.part behind. */
static void test_no_part_left(const char *tmp) {
    static float data[2048];
    char dir[512], shards[600];
    snprintf(dir, sizeof dir, "%s/parts", tmp);
    snprintf(shards, sizeof shards, "%s/shards", dir);
    int failures = 0;
    for (long at = 1; at < 400; at++) {
        fail_at f = {0, at};
        dp_set_allocator(failing_alloc, &f);
        dp_rdrr_writer *w = NULL;
        dp_status st = dp_rdrr_writer_new(dir, DP_RDRR_MIN_SHARD, &w, NULL);
        for (int i = 0; i < 3 && st == DP_OK; i++) {
            char name[16];
            snprintf(name, sizeof name, "t%d", i);
            dp_rdrr_tensor_desc d = {name, DP_DTYPE_F32, {1024, 1}, "x", -1, -1};
            st = dp_rdrr_writer_add_mem(w, &d, data, NULL);
        }
        if (st == DP_OK) st = dp_rdrr_writer_finish(w, "{}", NULL, NULL);
        dp_rdrr_writer_free(w);
        dp_set_allocator(NULL, NULL);
        CHECK_MSG(!has_part_file(shards), "a .part file is left after failing allocation %ld", at);
        if (st == DP_OK && f.calls < at) break;
        failures++;
    }
    CHECK(failures > 5);
}

int main(void) {
    const char *tmp = t_tmpdir("hostile_input");
    alarm(60); /* a reader that blocks on a FIFO fails the test instead of hanging it */
    test_not_regular(tmp);
    test_escape();
    test_sampling();
    test_ctx_bounds(tmp);
    test_tokenizer_hashes(tmp);
    test_no_part_left(tmp);
    return t_done("test_hostile_input");
}
