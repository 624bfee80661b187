/* io.c — readers over files (pread) and memory, whole-file helpers, paths. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* O_DIRECT */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/base.h"

/* ---- readers ---- */

typedef struct file_ctx {
    int fd;
    void *map;        /* the whole file, MAP_PRIVATE (copy on write), or NULL */
    uint64_t map_size;
} file_ctx;

static dp_status file_read_at(void *ctx, uint64_t off, void *dst, size_t n) {
    int fd = ((file_ctx *)ctx)->fd;
    char *p = dst;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        if (off > (uint64_t)INT64_MAX) return DP_ERR_IO;
        ssize_t k = pread(fd, p, chunk, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return DP_ERR_IO;
        }
        if (k == 0) return DP_ERR_IO; /* file shrank under us */
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return DP_OK;
}

/* dp_reader_read_uncached: the 4096-aligned middle of the range read with O_DIRECT (the flag set
 * on the descriptor for the read and cleared after), the ends through the page cache. */
dp_status dp_reader_read_uncached(const dp_reader *r, uint64_t off, void *dst, size_t n, dp_error *e) {
#if defined(O_DIRECT) && !defined(__wasm__)
    enum { A = 4096 };
    if (r && r->read_at == file_read_at && off <= r->size && n <= r->size - off && n >= 4 * A) {
        uint64_t head = (A - off % A) % A;
        if (((uintptr_t)dst + head) % A == 0) {
            uint64_t mid = (n - head) / A * A;
            int fd = ((file_ctx *)r->ctx)->fd, fl = fcntl(fd, F_GETFL);
            if (fl != -1 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
                dp_status st = file_read_at(r->ctx, off + head, (char *)dst + head, (size_t)mid);
                fcntl(fd, F_SETFL, fl);
                if (st != DP_OK)
                    return dp_err_set(e, st, "read of %llu bytes at %llu failed", (unsigned long long)mid,
                                      (unsigned long long)(off + head));
                st = dp_reader_read(r, off, dst, (size_t)head, e);
                return st == DP_OK ? dp_reader_read(r, off + head + mid, (char *)dst + head + mid, (size_t)(n - head - mid), e)
                                   : st;
            } /* no O_DIRECT on this file system: through the page cache */
        }
    }
#endif
    return dp_reader_read(r, off, dst, n, e);
}

/* The whole file mapped private and writable: pages are read lazily and shared with the page
 * cache until written, a write copies just that page (the file never changes). Not in the
 * WebAssembly build: WASI's emulated mmap would copy the whole file into the heap. */
static void *file_map(void *ctx, uint64_t size) {
    file_ctx *f = ctx;
#if defined(__wasm__)
    (void)f;
    (void)size;
    return NULL;
#endif
    if (f->map) return f->map;
    if (size == 0 || size > SIZE_MAX) return NULL;
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->fd, 0);
    if (p == MAP_FAILED) return NULL;
    f->map = p;
    f->map_size = size;
    return p;
}

static void file_close(void *ctx) {
    file_ctx *f = ctx;
    if (f->map) munmap(f->map, (size_t)f->map_size);
    close(f->fd);
    dp_free(f);
}

static dp_status open_status(int err) {
    return err == ENOENT || err == ENOTDIR ? DP_ERR_NOT_FOUND : DP_ERR_IO;
}

/* Opens path for reading only when it is a regular file: O_NONBLOCK so that a FIFO or a device
 * cannot block the open, then fstat refuses anything else (directory, FIFO, socket, device)
 * before a read can block, then blocking mode comes back. Every reader opens files here. */
static dp_status open_regular(const char *path, int *fd_out, uint64_t *size, dp_error *e) {
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        return dp_err_set(e, open_status(err), "cannot open %s: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return dp_err_set(e, DP_ERR_IO, "cannot stat %s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file";
        return dp_err_set(e, DP_ERR_IO, "%s is %s, not a regular file", path, what);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        int err = errno;
        close(fd);
        return dp_err_set(e, DP_ERR_IO, "cannot open %s: %s", path, strerror(err));
    }
    *fd_out = fd;
    *size = (uint64_t)st.st_size;
    return DP_OK;
}

dp_status dp_reader_open_file(dp_reader *r, const char *path, dp_error *e) {
    int fd;
    uint64_t size;
    dp_status st = open_regular(path, &fd, &size, e);
    if (st != DP_OK) return st;
    file_ctx *f = dp_malloc(sizeof *f);
    if (!f) {
        close(fd);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory opening %s", path);
    }
    f->fd = fd;
    f->map = NULL;
    f->map_size = 0;
    r->ctx = f;
    r->size = size;
    r->read_at = file_read_at;
    r->close = file_close;
    r->map = file_map;
    return DP_OK;
}

/* Memory reader: ctx is the data itself; dp_reader_read does the bounds check. */
static dp_status mem_read_at(void *ctx, uint64_t off, void *dst, size_t n) {
    if (n) memcpy(dst, (const char *)ctx + off, n);
    return DP_OK;
}

void dp_reader_open_mem(dp_reader *r, const void *data, size_t n) {
    r->ctx = (void *)(uintptr_t)data;
    r->size = n;
    r->read_at = mem_read_at;
    r->close = NULL;
    r->map = NULL; /* the caller's memory is not ours to write */
}

dp_status dp_reader_read(const dp_reader *r, uint64_t off, void *dst, size_t n, dp_error *e) {
    if (off > r->size || n > r->size - off)
        return dp_err_set(e, DP_ERR_FORMAT,
                          "read of %zu bytes at offset %llu is past the end (size %llu)", n,
                          (unsigned long long)off, (unsigned long long)r->size);
    if (n == 0) return DP_OK;
    dp_status st = r->read_at(r->ctx, off, dst, n);
    if (st != DP_OK)
        return dp_err_set(e, st, "read of %zu bytes at offset %llu failed", n,
                          (unsigned long long)off);
    return DP_OK;
}

void dp_reader_close(dp_reader *r) {
    if (!r) return;
    if (r->close) r->close(r->ctx);
    r->ctx = NULL;
    r->close = NULL;
    r->read_at = NULL;
    r->map = NULL;
    r->size = 0;
}

void *dp_reader_map(dp_reader *r) { return r->map ? r->map(r->ctx, r->size) : NULL; }

/* ---- whole files ---- */

dp_status dp_file_read_all(const char *path, size_t max, char **data, size_t *n, dp_error *e) {
    int fd;
    uint64_t size;
    dp_status st = open_regular(path, &fd, &size, e);
    if (st != DP_OK) return st;
    if (size > (uint64_t)max || size >= SIZE_MAX) {
        close(fd);
        return dp_err_set(e, DP_ERR_LIMIT, "%s is %llu bytes, over the limit of %zu", path,
                          (unsigned long long)size, max);
    }
    char *buf = dp_malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return dp_err_set(e, DP_ERR_NOMEM, "out of memory reading %s (%llu bytes)", path,
                          (unsigned long long)size);
    }
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t k = read(fd, buf + got, (size_t)size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int err = k < 0 ? errno : 0;
            close(fd);
            dp_free(buf);
            return dp_err_set(e, DP_ERR_IO, "cannot read %s: %s", path,
                              err ? strerror(err) : "file shrank while reading");
        }
        got += (size_t)k;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *n = got;
    return DP_OK;
}

static bool write_full(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Writes to "<path>.tmp.XXXXXX" in the same directory, then renames over path, so readers see
 * either the old or the whole new content. */
dp_status dp_file_write_all(const char *path, const void *data, size_t n, dp_error *e) {
    size_t plen = strlen(path);
    char *tmp = dp_malloc(plen + 16);
    if (!tmp) return dp_err_set(e, DP_ERR_NOMEM, "out of memory writing %s", path);
    memcpy(tmp, path, plen);
#if defined(__wasm__)
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
#else
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd >= 0) (void)fchmod(fd, 0644);
#endif
    if (fd < 0) {
        int err = errno;
        dp_free(tmp);
        return dp_err_set(e, open_status(err), "cannot create %s: %s", path, strerror(err));
    }
    int err = 0;
    if (!write_full(fd, data, n)) err = errno ? errno : EIO;
    else if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        dp_free(tmp);
        return dp_err_set(e, DP_ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    dp_free(tmp);
    return DP_OK;
}

bool dp_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir that counts an existing directory as success; returns 0 or the errno. */
static int mkdir_one(const char *p) {
    if (mkdir(p, 0755) == 0) return 0;
    int err = errno;
    return err == EEXIST && is_dir(p) ? 0 : err;
}

/* Works backwards from the full path to the deepest ancestor that exists, then creates the
 * rest forwards, so it never touches ancestors it need not (a WASI sandbox may forbid even
 * looking at them). */
dp_status dp_mkdir_p(const char *path, dp_error *e) {
    char *p = dp_strdup(path);
    if (!p) return dp_err_set(e, DP_ERR_NOMEM, "out of memory");
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
    if (len == 0) {
        dp_free(p);
        return dp_err_set(e, DP_ERR_INVALID_ARG, "empty directory path");
    }
    /* backwards: cut at slashes until a mkdir succeeds or fails for a reason other than a
     * missing parent */
    size_t cut = len;
    int err;
    for (;;) {
        err = mkdir_one(p);
        if (err != ENOENT) break;
        size_t i = cut;
        while (i > 0 && p[i - 1] != '/') i--; /* start of the last component */
        if (i == 0) break;                    /* relative, one component: no parent */
        i--;                                  /* the slash before it */
        while (i > 0 && p[i - 1] == '/') i--; /* first of a run of slashes */
        if (i == 0) break;                    /* the parent is the root */
        p[i] = '\0';                          /* was a '/': restored below */
        cut = i;
    }
    /* forwards: put the slashes back one component at a time */
    while (!err && cut < len) {
        p[cut] = '/';
        size_t next = cut + 1;
        while (next < len && p[next] != '\0') next++; /* the next cut, or the end */
        cut = next;
        err = mkdir_one(p);
    }
    if (err) {
        dp_status s = dp_err_set(e, DP_ERR_IO, "cannot create directory %s: %s", p,
                                 err == EEXIST ? "exists and is not a directory" : strerror(err));
        dp_free(p);
        return s;
    }
    dp_free(p);
    return DP_OK;
}

/* a + "/" + b, without doubling a trailing slash of a; an empty a gives a copy of b. */
char *dp_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    bool sep = la > 0 && a[la - 1] != '/';
    if (la > SIZE_MAX - lb - 2) return NULL;
    char *s = dp_malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    if (sep) s[la++] = '/';
    memcpy(s + la, b, lb);
    s[la + lb] = '\0';
    return s;
}
