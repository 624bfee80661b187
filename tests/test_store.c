/* test_store.c — the shard store (src/store/store.h): verify-before-commit (a wrong part is
 * deleted, never named), the budget with LRU eviction of unpinned shards, DP_ERR_LIMIT when
 * nothing can go, re-verification that drops a rotted shard, the store as a shard source. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/sha256.h"
#include "store/store.h"
#include "testutil.h"

#define SZ 4096

/* a part file of SZ bytes filled with v; its SHA-256 in hex */
static void make_part(dp_store *s, int v, char hex[65], char *part, size_t cap) {
    unsigned char buf[SZ];
    memset(buf, v, sizeof buf);
    uint8_t d[32];
    dp_sha256(buf, sizeof buf, d);
    dp_sha256_hex(d, hex);
    CHECK(dp_store_path(s, hex, ".part", part, cap));
    dp_error e = {0};
    CHECK(dp_file_write_all(part, buf, sizeof buf, &e) == DP_OK);
}

/* mtime of <hex>.bin set to t (LRU order without sleeping) */
static void age(dp_store *s, const char *hex, time_t t) {
    char p[4200];
    CHECK(dp_store_path(s, hex, ".bin", p, sizeof p));
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    CHECK(utimensat(0, p, ts, 0) == 0);
}

int main(void) {
    const char *dir = t_tmpdir("test_store");
    dp_store *s = NULL;
    dp_error e = {0};
    CHECK(dp_store_open(dir, 3 * SZ, &s, &e) == DP_OK);
    char hex[6][65], part[4200];
    /* a wrong part: DP_ERR_HASH, deleted, nothing named */
    make_part(s, 1, hex[0], part, sizeof part);
    FILE *f = fopen(part, "r+b");
    CHECK(f && fputc(7, f) != EOF && fclose(f) == 0);
    CHECK(dp_store_commit(s, part, hex[0], SZ, &e) == DP_ERR_HASH);
    CHECK(access(part, F_OK) != 0);
    CHECK(!dp_store_has(s, hex[0], NULL));
    /* a short part: DP_ERR_HASH on the size */
    make_part(s, 1, hex[0], part, sizeof part);
    CHECK(truncate(part, SZ - 1) == 0);
    CHECK(dp_store_commit(s, part, hex[0], SZ, &e) == DP_ERR_HASH);
    CHECK(strstr(e.msg, "bytes arrived") != NULL);
    /* three right ones fill the budget */
    for (int i = 0; i < 3; i++) {
        make_part(s, i + 1, hex[i], part, sizeof part);
        CHECK(dp_store_commit(s, part, hex[i], SZ, &e) == DP_OK);
        CHECK(dp_store_has(s, hex[i], NULL) && access(part, F_OK) != 0);
        age(s, hex[i], 1000000 + i);
    }
    CHECK(dp_store_used(s) == 3 * SZ);
    /* shard 0 is the oldest but pinned, so the next commit evicts shard 1 */
    CHECK(dp_store_pin(s, hex[0], &e) == DP_OK);
    make_part(s, 4, hex[3], part, sizeof part);
    CHECK(dp_store_commit(s, part, hex[3], SZ, &e) == DP_OK);
    CHECK(dp_store_has(s, hex[0], NULL) && !dp_store_has(s, hex[1], NULL) && dp_store_has(s, hex[2], NULL));
    CHECK(dp_store_used(s) == 3 * SZ);
    /* touching shard 2 makes shard 3 the least recently used */
    age(s, hex[3], 1000005);
    dp_store_touch(s, hex[2]);
    make_part(s, 5, hex[4], part, sizeof part);
    CHECK(dp_store_commit(s, part, hex[4], SZ, &e) == DP_OK);
    CHECK(!dp_store_has(s, hex[3], NULL) && dp_store_has(s, hex[2], NULL));
    /* everything pinned: DP_ERR_LIMIT, the part kept for later */
    CHECK(dp_store_pin(s, hex[2], &e) == DP_OK && dp_store_pin(s, hex[4], &e) == DP_OK);
    make_part(s, 6, hex[5], part, sizeof part);
    CHECK(dp_store_commit(s, part, hex[5], SZ, &e) == DP_ERR_LIMIT);
    CHECK(access(part, F_OK) == 0 && !dp_store_has(s, hex[5], NULL));
    /* a rotted shard: verify finds it, drop deletes it */
    CHECK(dp_store_verify(s, hex[2], true, &e) == DP_OK);
    char bin[4200];
    CHECK(dp_store_path(s, hex[2], ".bin", bin, sizeof bin));
    f = fopen(bin, "r+b");
    CHECK(f && fseek(f, 100, SEEK_SET) == 0 && fputc(0x55, f) != EOF && fclose(f) == 0);
    CHECK(dp_store_verify(s, hex[2], false, &e) == DP_ERR_HASH && dp_store_has(s, hex[2], NULL));
    CHECK(dp_store_verify(s, hex[2], true, &e) == DP_ERR_HASH && !dp_store_has(s, hex[2], NULL));
    CHECK(dp_store_verify(s, hex[2], true, &e) == DP_ERR_NOT_FOUND);
    /* the store as a shard source */
    dp_shard_source src;
    dp_store_source(s, &src);
    uint64_t size = 0;
    CHECK(src.has(src.ud, hex[0], &size, &e) == DP_OK && size == SZ);
    CHECK(src.has(src.ud, hex[2], &size, &e) == DP_ERR_NOT_FOUND);
    CHECK(src.has(src.ud, "../etc/passwd", &size, &e) == DP_ERR_INVALID_ARG);
    dp_reader r;
    CHECK(src.open(src.ud, hex[0], &r, &e) == DP_OK);
    uint8_t got[32], want[32];
    CHECK(dp_sha256_reader(&r, got, &e) == DP_OK);
    dp_reader_close(&r);
    unsigned char buf[SZ];
    memset(buf, 1, sizeof buf);
    dp_sha256(buf, sizeof buf, want);
    CHECK(!memcmp(got, want, 32));
    /* a bad name is refused before any path is made */
    CHECK(dp_store_commit(s, part, "zz", SZ, &e) == DP_ERR_INVALID_ARG);
    dp_store_free(s);
    dp_store_free(NULL);
    return t_done("test_store");
}
