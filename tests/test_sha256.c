/* test_sha256.c — NIST FIPS 180-4 vectors, padding boundaries, incremental == one-shot. */
#include <stdbool.h>
#include <string.h>

#include "base/base.h"
#include "base/sha256.h"
#include "testutil.h"

static bool g_force_c; /* run everything through the portable C rounds */

static void init(dp_sha256_ctx *s) {
    dp_sha256_init(s);
    if (g_force_c) s->hw = false;
}

static void oneshot(const void *data, size_t n, uint8_t out[32]) {
    dp_sha256_ctx s;
    init(&s);
    dp_sha256_update(&s, data, n);
    dp_sha256_final(&s, out);
}

static void check_hex(const void *data, size_t n, const char *want) {
    uint8_t d[32];
    char hex[65];
    oneshot(data, n, d);
    dp_sha256_hex(d, hex);
    CHECK_MSG(strcmp(hex, want) == 0, "%s: len %zu: got %s want %s", g_force_c ? "C" : "native",
              n, hex, want);
}

static void run_all(void) {
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopq"
                       "rlmnopqrsmnopqrstnopqrstu";
    check_hex(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* one million 'a', fed in 1000-byte pieces */
    char a[1000];
    memset(a, 'a', sizeof a);
    dp_sha256_ctx s;
    init(&s);
    for (int i = 0; i < 1000; i++) dp_sha256_update(&s, a, sizeof a);
    uint8_t d[32];
    char hex[65];
    dp_sha256_final(&s, d);
    dp_sha256_hex(d, hex);
    CHECK_MSG(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
              "million a: %s", hex);

    /* padding boundaries (reference values from Python's hashlib) */
    static const struct { size_t n; const char *hex; } pad[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
    };
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++) check_hex(a, pad[i].n, pad[i].hex);

    /* incremental in odd chunk sizes equals one-shot, over a patterned 100000-byte message */
    enum { N = 100000 };
    static uint8_t msg[N];
    for (size_t i = 0; i < N; i++) msg[i] = (uint8_t)(i * 7 + 3);
    const char *want = "d96bab6a55ee326ba206dd4a85a6e95e14360d7fabbf448f03e689c24382b7d0";
    check_hex(msg, N, want);
    static const size_t chunks[] = {1, 3, 7, 13, 63, 64, 65, 127, 1000, 4099};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        init(&s);
        size_t off = 0, k = chunks[c];
        while (off < N) {
            size_t take = N - off < k ? N - off : k;
            dp_sha256_update(&s, msg + off, take);
            off += take;
            k = k * 3 % 97 + 1; /* vary the chunk size as we go */
        }
        dp_sha256_final(&s, d);
        dp_sha256_hex(d, hex);
        CHECK_MSG(strcmp(hex, want) == 0, "chunked from %zu: %s", chunks[c], hex);
    }
    /* every length 0..300: byte-at-a-time equals one-shot */
    for (size_t n = 0; n <= 300; n++) {
        uint8_t d1[32], d2[32];
        oneshot(msg, n, d1);
        init(&s);
        for (size_t i = 0; i < n; i++) dp_sha256_update(&s, msg + i, 1);
        dp_sha256_final(&s, d2);
        CHECK_MSG(memcmp(d1, d2, 32) == 0, "length %zu", n);
    }

    /* throughput, for information */
    static uint8_t big[1 << 22];
    oneshot(big, sizeof big, d); /* fault the pages in first */
    double t0 = dp_time_now();
    oneshot(big, sizeof big, d);
    double dt = dp_time_now() - t0;
    printf("sha256 (%s): %.0f MB/s\n", g_force_c ? "portable C" : "native",
           (double)sizeof big / 1e6 / (dt > 0 ? dt : 1e-9));
}

int main(void) {
    dp_sha256_ctx probe;
    dp_sha256_init(&probe);
    printf("CPU SHA instructions: %s\n", probe.hw ? "used" : "absent");
    run_all();
    if (probe.hw) {
        g_force_c = true;
        run_all();
    }
    /* the public one-shot agrees */
    uint8_t d[32];
    char hex[65];
    dp_sha256("abc", 3, d);
    dp_sha256_hex(d, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    return t_done("test_sha256");
}
