/* experts.c — the expert cache of a paged MoE model: pieces, slots, eviction, verified
 * page-ins from the shard source (experts.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/sha256.h"
#include "runtime/experts.h"

#if !defined(__wasm__)
#include <pthread.h>
#define X_ASYNC 1 /* page-in threads: a layer's misses are read concurrently while its hits compute */
#define X_WORKERS 4 /* page-in threads (never more than slots - 1) */
#define X_CHUNKS 16 /* a page-in is read in about this many chunks, by every idle page-in thread at once */
#endif

#define X_ALIGN 4096u /* slots and pieces in them: page-aligned, for uncached (O_DIRECT) reads */
#define X_STAGE (4u << 20) /* streaming verification of a shared shard, in chunks */

/* The byte range of one shard that covers an expert's spans in it, and where it goes in a slot. */
typedef struct x_piece {
    uint32_t shard;
    uint64_t lo, len;
    uint64_t slot_off;
    bool whole;           /* the range is the whole shard: checked against the manifest's hash */
    bool known;           /* digest holds the range's SHA-256 (whole, or its shard was verified) */
    uint8_t digest[32];
} x_piece;

typedef struct x_entry {
    uint32_t piece0, n_pieces;
    dp_tensor proto[3];   /* gate, up, down: dtype, shape and size (data set on fetch) */
    uint64_t toff[3];     /* byte offset of each tensor in the slot */
    uint32_t tpiece[3];   /* the piece holding each tensor */
    int32_t slot;         /* -1: not resident */
    float freq;           /* LFU count with aging */
    uint64_t last;        /* tick of the last use (LRU) */
    uint64_t uses;
    bool fresh;           /* paged in ahead (wanted or predicted), not used since: its first use is a read */
    bool pred;            /* predicted for its layer (dp_experts_predict), until that layer's want */
    uint64_t pin;         /* the want it was last selected in: no page-in evicts it during that want's op */
    int32_t jslot;        /* the slot a page-in job reads it into, -1: none */
    uint64_t dtoff[3];    /* byte offset of each tensor in a device slot (256-aligned) */
    int32_t dslot;        /* device slot holding it, -1: none */
    uint64_t dgroup;      /* the device group it was last fetched in (never evicted within it) */
} x_entry;

#ifdef X_ASYNC
enum { X_FREE, X_QUEUED, X_RUNNING, X_DONE };
typedef struct x_job {
    int32_t ent;          /* the entry read */
    int state;
    uint64_t seq;         /* FIFO order: a layer's misses before the next layer's predictions */
    dp_status st;
    dp_error err;
    uint64_t bytes;
    /* its reads, in chunks of `chunk` bytes (pieces in order, each cut at multiples of chunk):
       idle threads read chunks while the job's own thread hashes the ones read, in order */
    uint64_t chunk;
    uint32_t n_chunks, next, busy; /* chunks; the next one nobody has claimed; claimed, not read */
    uint64_t read;        /* bit c: chunk c is read */
    dp_status cst;        /* the first failed chunk read */
    dp_error cerr;
} x_job;
#endif

typedef struct x_slot {
    uint8_t *raw, *data;  /* allocation, and its 256-aligned start */
} x_slot;

struct dp_experts {
    dp_rdrr *r;
    int n_layers, n_expert;
    bool lru;
    bool in_place;        /* misses computed from the shard's mapping (experts.h) */
    dp_reader maps[3];    /* the mappings of the last in-place miss, open until the next fetch */
    uint8_t *map_base[3];
    uint32_t n_maps;
    x_entry *ent;         /* [n_layers * n_expert] */
    x_piece *pieces;
    uint32_t n_pieces;
    uint32_t *by_shard;   /* piece indices grouped by shard: shard s has by_shard[first[s] .. first[s+1]) */
    uint32_t *first;      /* [n_shards + 1] */
    uint32_t max_per_shard;
    dp_sha256_ctx *hs;    /* [max_per_shard] */
    uint8_t *stage;
    x_slot *slots;
    int32_t *owner;       /* [n_slots] entry index of each RAM slot, -1 when free, -2 being read */
    uint32_t n_slots;
    int32_t cur;          /* the entry fetched last (in use: never a page-in's victim) */
    uint64_t epoch;       /* wants so far (x_entry.pin) */
    bool *pred_made;      /* [n_layers] a prediction of the layer waits for its want */
    int predict_k;        /* experts per token predicted a layer ahead (dp_experts_predict_k) */
#ifdef X_ASYNC
    pthread_mutex_t omu;  /* shard opens and first verifications: a shard source need not be thread-safe */
    /* page-in jobs, one per slot at most (x_job, jobs[slot]): the caller reserves the slot
       (owner -2) and queues the job; a worker reads and verifies into the slot; the caller settles
       it (owner, entry, counters), so the tables are only ever changed by the caller's thread. */
    struct x_job *jobs;   /* [n_slots] */
    pthread_t th[X_WORKERS];
    uint32_t n_th;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    bool started, quit;
    uint64_t seq;
#endif
    uint64_t slot_bytes;
    /* the device tier (dp_experts_set_device): slots in the backend's memory, each one tensor
       of dslot_bytes with an expert's gate, up and down at dtoff[] (256-aligned) */
    dp_backend *be;
    dp_tensor *dslots;
    int32_t *downer;      /* [n_dslots] entry index, -1 when free */
    uint32_t n_dslots;
    uint64_t dslot_bytes, group;
    uint64_t tick, since_age, age_period;
    dp_paging_stats st;
};

static void x_start(dp_experts *x); /* the page-in threads (below) */
static void x_stop(dp_experts *x);
static void x_olock(dp_experts *x);
static void x_ounlock(dp_experts *x);

static dp_status x_tensor(dp_rdrr *r, int l, dp_wrole role, int x, const dp_rdrr_tensor **out, dp_error *e) {
    char name[128];
    dp_tensor_name(name, sizeof name, l, role, x);
    const dp_rdrr_tensor *t = dp_rdrr_find(r, name);
    if (!t) return dp_err_set(e, DP_ERR_NOT_FOUND, "paging: tensor '%s' missing from manifest", name);
    if (t->n_spans != 1)
        return dp_err_set(e, DP_ERR_UNSUPPORTED, "paging: expert tensor '%s' is split over %u shards; convert "
                          "with a larger shard size to page it", name, t->n_spans);
    *out = t;
    return DP_OK;
}

/* Pieces of one expert: its tensors grouped by shard, each group's covering range. */
static dp_status x_build_entry(dp_experts *x, x_entry *en, int l, int xi, uint32_t *cap, dp_error *e) {
    static const dp_wrole ROLES[3] = {DP_W_GATE, DP_W_UP, DP_W_DOWN};
    const dp_rdrr_tensor *t[3];
    for (int k = 0; k < 3; k++) {
        dp_status st = x_tensor(x->r, l, ROLES[k], xi, &t[k], e);
        if (st != DP_OK) return st;
    }
    en->piece0 = x->n_pieces;
    en->slot = -1;
    en->jslot = -1;
    en->dslot = -1;
    for (int k = 0; k < 3; k++) {
        const dp_rdrr_span *sp = &t[k]->spans[0];
        x_piece *p = NULL;
        for (uint32_t i = en->piece0; i < x->n_pieces; i++)
            if (x->pieces[i].shard == sp->shard) p = &x->pieces[i];
        if (!p) {
            if (x->n_pieces == *cap) {
                uint32_t nc = *cap * 2;
                x_piece *np = dp_realloc(x->pieces, nc * sizeof *np);
                if (!np) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
                x->pieces = np;
                *cap = nc;
            }
            p = &x->pieces[x->n_pieces++];
            memset(p, 0, sizeof *p);
            p->shard = sp->shard;
            p->lo = sp->offset;
            p->len = sp->size;
        } else {
            uint64_t hi = p->lo + p->len > sp->offset + sp->size ? p->lo + p->len : sp->offset + sp->size;
            if (sp->offset < p->lo) p->lo = sp->offset;
            p->len = hi - p->lo;
        }
        dp_tensor *pt = &en->proto[k];
        pt->dtype = t[k]->dtype;
        pt->ne[0] = (int64_t)t[k]->ne[0];
        pt->ne[1] = (int64_t)t[k]->ne[1];
        pt->nbytes = t[k]->size;
    }
    en->n_pieces = x->n_pieces - en->piece0;
    uint64_t off = 0;
    for (uint32_t i = en->piece0; i < x->n_pieces; i++) {
        x_piece *p = &x->pieces[i];
        p->slot_off = off;
        off += (p->len + X_ALIGN - 1) / X_ALIGN * X_ALIGN;
        p->whole = p->lo == 0 && p->len == dp_rdrr_shard_size(x->r, p->shard);
        if (p->whole) {
            memcpy(p->digest, dp_rdrr_shard_digest(x->r, p->shard), 32);
            p->known = true;
        }
    }
    for (int k = 0; k < 3; k++) {
        const dp_rdrr_span *sp = &t[k]->spans[0];
        for (uint32_t i = en->piece0; i < x->n_pieces; i++)
            if (x->pieces[i].shard == sp->shard) {
                en->toff[k] = x->pieces[i].slot_off + (sp->offset - x->pieces[i].lo);
                en->tpiece[k] = i;
            }
    }
    if (off > x->slot_bytes) x->slot_bytes = off;
    return DP_OK;
}

static dp_status x_index_shards(dp_experts *x, dp_error *e) {
    size_t ns = dp_rdrr_n_shards(x->r);
    x->first = dp_calloc(ns + 1, sizeof *x->first);
    x->by_shard = dp_calloc(x->n_pieces ? x->n_pieces : 1, sizeof *x->by_shard);
    if (!x->first || !x->by_shard) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    for (uint32_t i = 0; i < x->n_pieces; i++) x->first[x->pieces[i].shard + 1]++;
    for (size_t s = 0; s < ns; s++) {
        if (x->first[s + 1] > x->max_per_shard) x->max_per_shard = x->first[s + 1];
        x->first[s + 1] += x->first[s];
    }
    uint32_t *fill = dp_calloc(ns + 1, sizeof *fill);
    if (!fill) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    for (uint32_t i = 0; i < x->n_pieces; i++) {
        uint32_t s = x->pieces[i].shard;
        x->by_shard[x->first[s] + fill[s]++] = i;
    }
    dp_free(fill);
    x->hs = dp_calloc(x->max_per_shard ? x->max_per_shard : 1, sizeof *x->hs);
    x->stage = dp_malloc(X_STAGE);
    if (!x->hs || !x->stage) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    return DP_OK;
}

dp_status dp_experts_new(dp_rdrr *r, const dp_model_desc *d, uint64_t ram_bytes, const char *policy,
                         bool in_place, int predict_k, dp_experts **out, dp_error *e) {
    if (!r || !d || !out) return dp_err_set(e, DP_ERR_INVALID_ARG, "dp_experts_new: NULL argument");
    if (d->n_expert <= 0) return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: the model has no experts");
    if (policy && strcmp(policy, "lfu") && strcmp(policy, "lru"))
        return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: unknown expert policy '%s' (lfu, lru)", policy);
    dp_experts *x = dp_calloc(1, sizeof *x);
    if (!x) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    x->r = r;
    x->n_layers = d->n_layers;
    x->n_expert = d->n_expert;
    x->lru = policy && !strcmp(policy, "lru");
    x->in_place = in_place;
    x->predict_k = predict_k < 0 ? 0 : predict_k > d->n_expert ? d->n_expert : predict_k;
    x->epoch = 1; /* entries start unpinned (pin 0) */
    size_t n_ent = (size_t)d->n_layers * (size_t)d->n_expert;
    uint32_t cap = (uint32_t)n_ent * 3;
    x->ent = dp_calloc(n_ent, sizeof *x->ent);
    x->pieces = dp_malloc(cap * sizeof *x->pieces);
    x->pred_made = dp_calloc(d->n_layers > 0 ? (size_t)d->n_layers : 1, sizeof *x->pred_made);
    dp_status st = x->ent && x->pieces && x->pred_made ? DP_OK : dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    for (int l = 0; l < d->n_layers && st == DP_OK; l++)
        for (int xi = 0; xi < d->n_expert && st == DP_OK; xi++)
            st = x_build_entry(x, &x->ent[(size_t)l * (size_t)d->n_expert + (size_t)xi], l, xi, &cap, e);
    if (st == DP_OK) st = x_index_shards(x, e);
    if (st == DP_OK && ram_bytes == 0) ram_bytes = x->slot_bytes; /* a device tier's staging slot */
    if (st == DP_OK && ram_bytes / x->slot_bytes == 0)
        st = dp_err_set(e, DP_ERR_INVALID_ARG, "paging: a RAM cache of %" PRIu64 " bytes holds no expert "
                        "(one takes %" PRIu64 " bytes)", ram_bytes, x->slot_bytes);
    if (st == DP_OK) {
        uint64_t n = ram_bytes / x->slot_bytes;
        x->n_slots = (uint32_t)(n < n_ent ? n : n_ent); /* more than every expert is never used */
        x->slots = dp_calloc(x->n_slots, sizeof *x->slots);
        x->owner = dp_calloc(x->n_slots, sizeof *x->owner);
        if (!x->slots || !x->owner) st = dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    }
    for (uint32_t i = 0; st == DP_OK && i < x->n_slots; i++) {
        x_slot *s = &x->slots[i];
        x->owner[i] = -1;
        if (x->slot_bytes > SIZE_MAX - X_ALIGN || !(s->raw = dp_malloc((size_t)x->slot_bytes + X_ALIGN)))
            st = dp_err_set(e, DP_ERR_NOMEM, "paging: cannot allocate %u RAM slots of %" PRIu64 " bytes",
                            x->n_slots, x->slot_bytes);
        else s->data = (uint8_t *)(((uintptr_t)s->raw + X_ALIGN - 1) & ~(uintptr_t)(X_ALIGN - 1));
    }
    if (st != DP_OK) {
        dp_experts_free(x);
        return st;
    }
    x->age_period = n_ent;
    x->cur = -1;
    x_start(x);
    x->st.paged = 1;
    x->st.policy = x->lru ? (in_place ? "lru, misses in place" : "lru") : (in_place ? "lfu, misses in place" : "lfu");
    x->st.ram_slots = x->n_slots;
    x->st.slot_bytes = x->slot_bytes;
    *out = x;
    return DP_OK;
}

static void x_unmap(dp_experts *x) {
    for (uint32_t i = 0; i < x->n_maps; i++) dp_reader_close(&x->maps[i]);
    x->n_maps = 0;
}

void dp_experts_free(dp_experts *x) {
    if (!x) return;
    x_stop(x);
    x_unmap(x);
    for (uint32_t i = 0; x->dslots && i < x->n_dslots; i++) x->be->i->tensor_free(x->be, &x->dslots[i]);
    dp_free(x->dslots);
    dp_free(x->downer);
    for (uint32_t i = 0; x->slots && i < x->n_slots; i++) dp_free(x->slots[i].raw);
    dp_free(x->slots);
    dp_free(x->owner);
    dp_free(x->ent);
    dp_free(x->pred_made);
    dp_free(x->pieces);
    dp_free(x->by_shard);
    dp_free(x->first);
    dp_free(x->hs);
    dp_free(x->stage);
    dp_free(x);
}

uint64_t dp_experts_budget(const dp_experts *x, int slots_per_layer) {
    return x->slot_bytes * (uint64_t)slots_per_layer * (uint64_t)x->n_layers;
}

/* Stream shard s once: verify it against the manifest and record the digest of every piece in it. */
static dp_status x_verify_shard(dp_experts *x, uint32_t s, dp_error *e) {
    dp_reader rd;
    dp_status st = dp_rdrr_shard_open(x->r, s, &rd, e);
    if (st != DP_OK) return st;
    dp_sha256_ctx all;
    dp_sha256_init(&all);
    uint32_t a = x->first[s], b = x->first[s + 1];
    for (uint32_t i = a; i < b; i++) dp_sha256_init(&x->hs[i - a]);
    for (uint64_t off = 0; off < rd.size && st == DP_OK; off += X_STAGE) {
        size_t n = rd.size - off < X_STAGE ? (size_t)(rd.size - off) : X_STAGE;
        if ((st = dp_reader_read(&rd, off, x->stage, n, e)) != DP_OK) break;
        dp_sha256_update(&all, x->stage, n);
        for (uint32_t i = a; i < b; i++) {
            const x_piece *p = &x->pieces[x->by_shard[i]];
            uint64_t lo = p->lo > off ? p->lo : off, hi = p->lo + p->len < off + n ? p->lo + p->len : off + n;
            if (lo < hi) dp_sha256_update(&x->hs[i - a], x->stage + (lo - off), (size_t)(hi - lo));
        }
    }
    dp_reader_close(&rd);
    if (st != DP_OK) return st;
    uint8_t got[32];
    dp_sha256_final(&all, got);
    if (memcmp(got, dp_rdrr_shard_digest(x->r, s), 32))
        return dp_err_set(e, DP_ERR_HASH, "shard %u (sha256:%s): SHA-256 mismatch", s, dp_rdrr_shard_hash(x->r, s));
    for (uint32_t i = a; i < b; i++) {
        x_piece *p = &x->pieces[x->by_shard[i]];
        dp_sha256_final(&x->hs[i - a], p->digest);
        p->known = true;
    }
    return DP_OK;
}

/* got (the SHA-256 of piece p's bytes as read) against the piece's digest. */
static dp_status x_digest_check(const dp_experts *x, const x_piece *p, const uint8_t got[32], dp_error *e) {
    if (!memcmp(got, p->digest, 32)) return DP_OK;
    return dp_err_set(e, DP_ERR_HASH, "shard %u (sha256:%s) bytes [%" PRIu64 ", %" PRIu64 ") do not match their "
                      "SHA-256: the shard changed or is corrupt", p->shard, dp_rdrr_shard_hash(x->r, p->shard),
                      p->lo, p->lo + p->len);
}

/* The bytes of piece p (len bytes at b) against its digest. */
static dp_status x_check_piece(const dp_experts *x, const x_piece *p, const uint8_t *b, dp_error *e) {
    uint8_t got[32];
    dp_sha256(b, (size_t)p->len, got);
    return x_digest_check(x, p, got, e);
}

/* Read bytes [off, off + len) of piece p into its place in slot memory dst (uncached), its shard
 * verified first if this is the first time it is needed. */
static dp_status x_read_range(dp_experts *x, x_piece *p, uint64_t off, uint64_t len, uint8_t *dst, dp_error *e) {
    dp_status st = DP_OK;
    dp_reader rd;
    x_olock(x);
    if (!p->known) st = x_verify_shard(x, p->shard, e);
    if (st == DP_OK) st = dp_rdrr_shard_open(x->r, p->shard, &rd, e);
    x_ounlock(x);
    if (st != DP_OK) return st;
    st = dp_reader_read_uncached(&rd, p->lo + off, dst + p->slot_off + off, (size_t)len, e);
    dp_reader_close(&rd);
    if (st != DP_OK) dp_err_prefix(e, "shard %u (sha256:%s)", p->shard, dp_rdrr_shard_hash(x->r, p->shard));
    return st;
}

/* Read and verify every piece of en into slot memory dst; *bytes += what was read. */
static dp_status x_page_in(dp_experts *x, const x_entry *en, uint8_t *dst, uint64_t *bytes, dp_error *e) {
    dp_status st = DP_OK;
    for (uint32_t i = en->piece0; i < en->piece0 + en->n_pieces && st == DP_OK; i++) {
        x_piece *p = &x->pieces[i];
        if ((st = x_read_range(x, p, 0, p->len, dst, e)) == DP_OK &&
            (st = x_check_piece(x, p, dst + p->slot_off, e)) == DP_OK)
            *bytes += p->len;
    }
    return st;
}

/* The pieces of en mapped (private, from the shard source's readers) and checked like a
 * page-in; *ok false when a reader cannot map (the caller pages in instead). */
static dp_status x_map_in(dp_experts *x, const x_entry *en, bool *ok, dp_error *e) {
    *ok = false;
    x_unmap(x);
    dp_status st = DP_OK;
    for (uint32_t i = 0; i < en->n_pieces && st == DP_OK; i++) {
        x_piece *p = &x->pieces[en->piece0 + i];
        if (!p->known && (st = x_verify_shard(x, p->shard, e)) != DP_OK) break;
        if ((st = dp_rdrr_shard_open(x->r, p->shard, &x->maps[i], e)) != DP_OK) break;
        x->n_maps = i + 1;
        x->map_base[i] = dp_reader_map(&x->maps[i]);
        if (!x->map_base[i]) { /* not mappable */
            x_unmap(x);
            return DP_OK;
        }
        st = x_check_piece(x, p, x->map_base[i] + p->lo, e);
    }
    if (st != DP_OK) {
        x_unmap(x);
        return st;
    }
    *ok = true;
    return DP_OK;
}

/* The policy (LRU, or LFU with aging) over a pool of n slots whose owners are entry indices
 * (-1 free, < -1 busy): a free slot, else the victim among the owners `can` allows; -1 when
 * there is none. The RAM and the device tier both choose with it. */
static int32_t x_victim_in(const dp_experts *x, const int32_t *owner, uint32_t n,
                           bool (*can)(const dp_experts *x, int32_t ent, int32_t arg), int32_t arg) {
    int32_t best = -1;
    const x_entry *b = NULL;
    for (uint32_t i = 0; i < n; i++) {
        int32_t o = owner[i];
        if (o == -1) return (int32_t)i;
        if (o < 0 || !can(x, o, arg)) continue;
        const x_entry *a = &x->ent[o];
        bool better = !b || (x->lru ? a->last < b->last : (a->freq < b->freq || (a->freq == b->freq && a->last < b->last)));
        if (better) {
            best = (int32_t)i;
            b = a;
        }
    }
    return best;
}

static bool x_not(const dp_experts *x, int32_t ent, int32_t keep) {
    (void)x;
    return ent != keep;
}

/* A free RAM slot, else the policy's victim other than entry `keep`; -1 when there is none. */
static int32_t x_victim(const dp_experts *x, int32_t keep) { return x_victim_in(x, x->owner, x->n_slots, x_not, keep); }

/* One use of en: the clock, its counts, and the LFU aging. */
static void x_touch(dp_experts *x, x_entry *en) {
    x->tick++;
    x->st.uses++;
    en->uses++;
    en->freq += 1.0f;
    if (++x->since_age >= x->age_period) {
        x->since_age = 0;
        for (size_t i = 0; i < (size_t)x->n_layers * (size_t)x->n_expert; i++) x->ent[i].freq *= 0.5f;
    }
}

static uint64_t x_entry_bytes(const dp_experts *x, const x_entry *en) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < en->n_pieces; i++) n += x->pieces[en->piece0 + i].len;
    return n;
}

/* Free RAM slot s of its expert (an expert read ahead and never used counts as unused bytes). */
static void x_evict(dp_experts *x, int32_t s) {
    int32_t o = x->owner[s];
    if (o < 0) return;
    x_entry *en = &x->ent[o];
    en->slot = -1;
    if (en->fresh) x->st.unused_bytes += x_entry_bytes(x, en);
    en->fresh = false;
    x->owner[s] = -1;
}

/* Whether a page-in started ahead may evict entry ent: not the expert in use, not one the current
 * op selected and has still to use (the op visits its experts in id order, so the selected ones
 * below the one in use are done), not one predicted for a layer still to come. */
static bool x_spare(const dp_experts *x, int32_t ent, int32_t arg) {
    (void)arg;
    const x_entry *en = &x->ent[ent];
    return ent != x->cur && (en->pin != x->epoch || ent < x->cur) && !en->pred;
}

#ifdef X_ASYNC
/* Chunk c of job j: its piece, and its offset and length there. */
static x_piece *x_chunk(dp_experts *x, const x_job *j, uint32_t c, uint64_t *off, uint64_t *len) {
    const x_entry *en = &x->ent[j->ent];
    for (uint32_t i = 0; i < en->n_pieces; i++) {
        x_piece *p = &x->pieces[en->piece0 + i];
        uint64_t n = (p->len + j->chunk - 1) / j->chunk;
        if (c < n) {
            *off = c * j->chunk;
            *len = p->len - *off < j->chunk ? p->len - *off : j->chunk;
            return p;
        }
        c -= (uint32_t)n;
    }
    return NULL;
}

/* Read chunk c (claimed: busy counts it) of job j into slot s. mu not held. */
static void x_read_chunk(dp_experts *x, x_job *j, int32_t s, uint32_t c) {
    uint64_t off = 0, len = 0;
    x_piece *p = x_chunk(x, j, c, &off, &len);
    dp_error err = {0};
    dp_status st = x_read_range(x, p, off, len, x->slots[s].data, &err);
    pthread_mutex_lock(&x->mu);
    j->read |= (uint64_t)1 << c;
    j->busy--;
    if (st != DP_OK && j->cst == DP_OK) {
        j->cst = st;
        j->cerr = err;
    }
    pthread_cond_broadcast(&x->done);
    pthread_mutex_unlock(&x->mu);
}

/* Claim the next unread chunk of job j (slot s) and read it. mu held (released meanwhile). */
static void x_help(dp_experts *x, x_job *j, int32_t s) {
    uint32_t k = j->next++;
    j->busy++;
    pthread_mutex_unlock(&x->mu);
    x_read_chunk(x, j, s, k);
    pthread_mutex_lock(&x->mu);
}

/* Run job j (running) into slot s: its chunks are read by this thread and every idle worker, and
 * hashed here in order as they arrive, each piece checked against its digest; then the job is
 * done. mu not held. */
static void x_run(dp_experts *x, x_job *j, int32_t s) {
    const x_entry *en = &x->ent[j->ent];
    const uint8_t *dst = x->slots[s].data;
    uint64_t total = x_entry_bytes(x, en);
    dp_status st = DP_OK;
    dp_error err = {0};
    uint64_t bytes = 0;
    pthread_mutex_lock(&x->mu);
    j->chunk = ((total + X_CHUNKS - 1) / X_CHUNKS + X_ALIGN - 1) / X_ALIGN * X_ALIGN;
    j->n_chunks = 0;
    for (uint32_t i = 0; i < en->n_pieces; i++)
        j->n_chunks += (uint32_t)((x->pieces[en->piece0 + i].len + j->chunk - 1) / j->chunk);
    j->next = j->busy = 0;
    j->read = 0;
    j->cst = DP_OK;
    pthread_cond_broadcast(&x->work); /* idle workers help with the reads */
    uint32_t c = 0;
    for (uint32_t i = 0; i < en->n_pieces && st == DP_OK; i++) {
        const x_piece *p = &x->pieces[en->piece0 + i];
        dp_sha256_ctx h;
        dp_sha256_init(&h);
        for (uint64_t off = 0; off < p->len; off += j->chunk, c++) {
            while (!(j->read >> c & 1) && j->cst == DP_OK) { /* read a chunk meanwhile, or wait */
                if (j->next < j->n_chunks) x_help(x, j, s);
                else pthread_cond_wait(&x->done, &x->mu);
            }
            if (j->cst != DP_OK) {
                st = j->cst;
                err = j->cerr;
                break;
            }
            pthread_mutex_unlock(&x->mu);
            dp_sha256_update(&h, dst + p->slot_off + off, (size_t)(p->len - off < j->chunk ? p->len - off : j->chunk));
            pthread_mutex_lock(&x->mu);
        }
        if (st == DP_OK) {
            uint8_t got[32];
            dp_sha256_final(&h, got);
            if ((st = x_digest_check(x, p, got, &err)) == DP_OK) bytes += p->len;
        }
    }
    j->next = j->n_chunks; /* after a failure: no more claims, and the ones being read finish first */
    while (j->busy) pthread_cond_wait(&x->done, &x->mu);
    j->st = st;
    j->err = err;
    j->bytes = bytes;
    j->state = X_DONE;
    pthread_cond_broadcast(&x->done);
    pthread_mutex_unlock(&x->mu);
}

static void *x_worker(void *arg) {
    dp_experts *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        int32_t s = -1, h = -1; /* the oldest queued job; the oldest running one with a chunk to read */
        for (uint32_t i = 0; i < x->n_slots; i++) {
            const x_job *j = &x->jobs[i];
            if (j->state == X_QUEUED && (s < 0 || j->seq < x->jobs[s].seq)) s = (int32_t)i;
            if (j->state == X_RUNNING && j->next < j->n_chunks && (h < 0 || j->seq < x->jobs[h].seq)) h = (int32_t)i;
        }
        if (s >= 0) {
            x->jobs[s].state = X_RUNNING;
            pthread_mutex_unlock(&x->mu);
            x_run(x, &x->jobs[s], s);
            pthread_mutex_lock(&x->mu);
        } else if (h >= 0) {
            x_help(x, &x->jobs[h], h);
        } else if (x->quit) {
            break;
        } else {
            pthread_cond_wait(&x->work, &x->mu);
        }
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* Settle the finished job of slot s (mu held): the slot holds its expert, or is free again after a
 * failure (reported by the fetch of that expert, which reads it again in the caller's thread). */
static void x_settle(dp_experts *x, int32_t s) {
    x_job *j = &x->jobs[s];
    x_entry *en = &x->ent[j->ent];
    en->jslot = -1;
    x->owner[s] = -1;
    if (j->st == DP_OK) {
        x->owner[s] = j->ent;
        en->slot = s;
        en->fresh = true;
        x->st.source_bytes += j->bytes;
    }
    j->state = X_FREE;
}

/* Settle the finished jobs; with `stale`, also drop the queued ones (not started) whose expert the
 * current op did not select: a misprediction not yet read costs nothing. mu held. */
static void x_settle_done(dp_experts *x, bool stale) {
    for (uint32_t i = 0; i < x->n_slots; i++) {
        x_job *j = &x->jobs[i];
        if (j->state == X_DONE) {
            x_settle(x, (int32_t)i);
        } else if (stale && j->state == X_QUEUED && x->ent[j->ent].pin != x->epoch) {
            x->ent[j->ent].jslot = -1;
            x->owner[i] = -1;
            j->state = X_FREE;
        }
    }
}

/* Wait for the job of slot s and settle it; one no worker has taken yet is run here, and meanwhile
 * this thread reads chunks of it like an idle worker. */
static void x_wait(dp_experts *x, int32_t s) {
    x_job *j = &x->jobs[s];
    pthread_mutex_lock(&x->mu);
    if (j->state == X_QUEUED) {
        j->state = X_RUNNING;
        pthread_mutex_unlock(&x->mu);
        x_run(x, j, s);
        pthread_mutex_lock(&x->mu);
    }
    while (j->state != X_DONE) {
        if (j->state == X_RUNNING && j->next < j->n_chunks) x_help(x, j, s);
        else pthread_cond_wait(&x->done, &x->mu);
    }
    x_settle(x, s);
    pthread_mutex_unlock(&x->mu);
}

/* Every slot is being read: wait until a job finishes, and settle what has. */
static void x_wait_any(dp_experts *x) {
    pthread_mutex_lock(&x->mu);
    for (;;) {
        bool busy = false, done = false;
        for (uint32_t i = 0; i < x->n_slots; i++) {
            busy = busy || x->jobs[i].state != X_FREE;
            done = done || x->jobs[i].state == X_DONE;
        }
        if (done || !busy) break;
        pthread_cond_wait(&x->done, &x->mu);
    }
    x_settle_done(x, false);
    pthread_mutex_unlock(&x->mu);
}

/* Start paging entry idx in ahead: a slot is reserved now (evicting an x_spare expert: the RAM
 * budget stays exact) and a worker reads and verifies into it. false when no slot can be given up. */
static bool x_queue(dp_experts *x, int32_t idx) {
    int32_t s = x_victim_in(x, x->owner, x->n_slots, x_spare, 0);
    if (s < 0) return false;
    x_evict(x, s);
    x->owner[s] = -2;
    x->ent[idx].jslot = s;
    pthread_mutex_lock(&x->mu);
    x_job *j = &x->jobs[s];
    j->ent = idx;
    j->seq = ++x->seq;
    j->n_chunks = j->next = 0; /* none to help with until it runs */
    j->state = X_QUEUED;
    pthread_cond_signal(&x->work);
    pthread_mutex_unlock(&x->mu);
    return true;
}

/* Queue the experts the current op selected in `layer` and has still to use (above the one in
 * use), in id order, while slots can be given up. */
static void x_top_up(dp_experts *x, int layer) {
    if (!x->started) return;
    for (int e = 0; e < x->n_expert; e++) {
        int32_t idx = layer * x->n_expert + e;
        const x_entry *en = &x->ent[idx];
        if (en->pin == x->epoch && idx > x->cur && en->slot < 0 && en->jslot < 0 && !x_queue(x, idx)) break;
    }
}

static void x_olock(dp_experts *x) {
    if (x->started) pthread_mutex_lock(&x->omu);
}
static void x_ounlock(dp_experts *x) {
    if (x->started) pthread_mutex_unlock(&x->omu);
}

static void x_start(dp_experts *x) {
    if (x->in_place || x->n_slots < 2) return;
    x->jobs = dp_calloc(x->n_slots, sizeof *x->jobs);
    if (!x->jobs) return; /* page-ins stay synchronous */
    if (pthread_mutex_init(&x->mu, NULL)) goto no_mu;
    if (pthread_mutex_init(&x->omu, NULL)) goto no_omu;
    if (pthread_cond_init(&x->work, NULL)) goto no_work;
    if (pthread_cond_init(&x->done, NULL)) goto no_done;
    uint32_t want = x->n_slots - 1 < X_WORKERS ? x->n_slots - 1 : X_WORKERS;
    while (x->n_th < want && !pthread_create(&x->th[x->n_th], NULL, x_worker, x)) x->n_th++;
    if (x->n_th) {
        x->started = true;
        return;
    }
    pthread_cond_destroy(&x->done);
no_done:
    pthread_cond_destroy(&x->work);
no_work:
    pthread_mutex_destroy(&x->omu);
no_omu:
    pthread_mutex_destroy(&x->mu);
no_mu:
    dp_free(x->jobs);
    x->jobs = NULL;
}

static void x_stop(dp_experts *x) {
    if (!x->started) return;
    pthread_mutex_lock(&x->mu);
    x->quit = true;
    for (uint32_t i = 0; i < x->n_slots; i++)
        if (x->jobs[i].state == X_QUEUED) x->jobs[i].state = X_FREE;
    pthread_cond_broadcast(&x->work);
    pthread_mutex_unlock(&x->mu);
    for (uint32_t i = 0; i < x->n_th; i++) pthread_join(x->th[i], NULL);
    pthread_cond_destroy(&x->done);
    pthread_cond_destroy(&x->work);
    pthread_mutex_destroy(&x->omu);
    pthread_mutex_destroy(&x->mu);
    dp_free(x->jobs);
    x->jobs = NULL;
    x->started = false;
}
#else
static void x_start(dp_experts *x) { (void)x; }
static void x_stop(dp_experts *x) { (void)x; }
static void x_olock(dp_experts *x) { (void)x; }
static void x_ounlock(dp_experts *x) { (void)x; }
#endif

int dp_experts_predict_k(const dp_experts *x) {
#ifdef X_ASYNC
    return x && x->started ? x->predict_k : 0;
#else
    (void)x;
    return 0;
#endif
}

void dp_experts_want(void *ud, int layer, const int32_t *ids, int n) {
    dp_experts *x = ud;
    if (!x || layer < 0 || layer >= x->n_layers) return;
    x_entry *le = &x->ent[(size_t)layer * (size_t)x->n_expert];
    x->epoch++;
    x->cur = -1; /* the last op is over: nothing of it is in use */
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= x->n_expert) continue;
        le[ids[i]].pin = x->epoch;
        if (x->pred_made[layer]) {
            x->st.predict_total++;
            x->st.predict_hits += le[ids[i]].pred;
        }
    }
    if (x->pred_made[layer])
        for (int e = 0; e < x->n_expert; e++) le[e].pred = false;
    x->pred_made[layer] = false;
#ifdef X_ASYNC
    if (!x->started) return;
    pthread_mutex_lock(&x->mu);
    x_settle_done(x, true);
    pthread_mutex_unlock(&x->mu);
    x_top_up(x, layer);
#endif
}

void dp_experts_predict(void *ud, int layer, const int32_t *ids, int n) {
    dp_experts *x = ud;
    if (!dp_experts_predict_k(x) || layer < 0 || layer >= x->n_layers) return;
    x_entry *le = &x->ent[(size_t)layer * (size_t)x->n_expert];
    x->pred_made[layer] = true;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < x->n_expert && !le[ids[i]].pred) {
            le[ids[i]].pred = true;
            x->st.predicted++;
        }
#ifdef X_ASYNC
    for (int i = 0; i < n; i++) {
        int32_t idx = layer * x->n_expert + ids[i];
        if (ids[i] >= 0 && ids[i] < x->n_expert && x->ent[idx].slot < 0 && x->ent[idx].jslot < 0 &&
            !x_queue(x, idx))
            break;
    }
#endif
}

/* A RAM slot for a page-in in the caller's thread: a spare one, else any settled one (the expert
 * fetched last is no longer in use); when every slot is being read, wait for one. */
static int32_t x_slot_for(dp_experts *x) {
    for (;;) {
        int32_t s = x_victim_in(x, x->owner, x->n_slots, x_spare, 0);
        if (s < 0) s = x_victim(x, -1);
        if (s >= 0) return s;
#ifdef X_ASYNC
        x_wait_any(x);
#else
        return 0; /* unreachable: without page-in threads no slot is ever being read */
#endif
    }
}

dp_status dp_experts_fetch(void *ud, int layer, int expert, dp_tensor w[3], dp_error *e) {
    dp_experts *x = ud;
    if (!x || layer < 0 || layer >= x->n_layers || expert < 0 || expert >= x->n_expert)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: no expert %d in layer %d", expert, layer);
    int32_t idx = layer * x->n_expert + expert;
    x_entry *en = &x->ent[idx];
#ifdef X_ASYNC
    if (en->jslot >= 0) { /* waiting for a page-in started ahead is waiting for a page */
        double tw = dp_time_now();
        x_wait(x, en->jslot);
        x->st.wait_s += dp_time_now() - tw;
    }
#endif
    x_touch(x, en);
    x_unmap(x); /* the last in-place expert's mappings */
    if (en->slot >= 0 && en->fresh) {
        x->st.source_reads++; /* read ahead: still a read, not a hit */
        en->fresh = false;
    } else if (en->slot >= 0) {
        x->st.ram_hits++;
    } else if (x->in_place) {
        double t0 = dp_time_now();
        bool ok = false;
        dp_status st = x_map_in(x, en, &ok, e);
        x->st.wait_s += dp_time_now() - t0;
        if (st != DP_OK) {
            dp_err_prefix(e, "paging layer %d expert %d", layer, expert);
            return st;
        }
        if (ok) {
            x->st.source_reads++;
            x->st.source_bytes += x_entry_bytes(x, en);
            /* admitted into a slot only when a slot is free or it is used more than the victim */
            int32_t s = x_victim(x, -1); /* no page-in threads in this mode: every slot is settled */
            x_slot *sl = &x->slots[s];
            int32_t *so = &x->owner[s];
            if (*so >= 0 && x->ent[*so].freq >= en->freq) {
                en->last = x->tick;
                for (int k = 0; k < 3; k++) {
                    const x_piece *p = &x->pieces[en->tpiece[k]];
                    w[k] = en->proto[k];
                    w[k].data = x->map_base[en->tpiece[k] - en->piece0] + p->lo + (en->toff[k] - p->slot_off);
                }
                return DP_OK;
            }
            x_evict(x, s);
            for (uint32_t i = 0; i < en->n_pieces; i++) {
                const x_piece *p = &x->pieces[en->piece0 + i];
                memcpy(sl->data + p->slot_off, x->map_base[i] + p->lo, (size_t)p->len);
            }
            x_unmap(x);
            *so = idx;
            en->slot = (int32_t)s;
        }
    }
    if (en->slot < 0) {
        double t0 = dp_time_now();
        int32_t s = x_slot_for(x);
        x_evict(x, s);
        dp_status st = x_page_in(x, en, x->slots[s].data, &x->st.source_bytes, e);
        x->st.wait_s += dp_time_now() - t0;
        if (st != DP_OK) {
            dp_err_prefix(e, "paging layer %d expert %d", layer, expert);
            return st;
        }
        x->owner[s] = idx;
        en->slot = (int32_t)s;
        x->st.source_reads++;
    }
    en->last = x->tick;
    x->cur = idx;
#ifdef X_ASYNC
    x_top_up(x, layer); /* the op's next experts, into the slots its used ones leave */
#endif
    uint8_t *base = x->slots[en->slot].data;
    for (int k = 0; k < 3; k++) {
        w[k] = en->proto[k];
        w[k].data = base + en->toff[k];
    }
    return DP_OK;
}

/* ---- the device tier ---- */

#define X_DALIGN 256u /* minStorageBufferOffsetAlignment: each tensor of a device slot binds at its offset */

dp_status dp_experts_set_device(dp_experts *x, dp_backend *be, uint64_t bytes, dp_error *e) {
    if (!x || !be || x->dslots) return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: bad device tier");
    size_t n_ent = (size_t)x->n_layers * (size_t)x->n_expert;
    for (size_t i = 0; i < n_ent; i++) {
        x_entry *en = &x->ent[i];
        uint64_t off = 0;
        for (int k = 0; k < 3; k++) {
            if (en->proto[k].nbytes % 4)
                return dp_err_set(e, DP_ERR_UNSUPPORTED, "paging: an expert tensor of %llu bytes (not a multiple "
                                  "of 4) cannot be paged to the device", (unsigned long long)en->proto[k].nbytes);
            en->dtoff[k] = off;
            off += (en->proto[k].nbytes + X_DALIGN - 1) / X_DALIGN * X_DALIGN;
        }
        if (off > x->dslot_bytes) x->dslot_bytes = off;
    }
    uint64_t n = bytes / x->dslot_bytes;
    if (n == 0)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: %" PRIu64 " bytes of gpu_mem after the dense weights "
                          "hold no expert (one takes %" PRIu64 " bytes)", bytes, x->dslot_bytes);
    x->n_dslots = (uint32_t)(n < n_ent ? n : n_ent);
    x->dslots = dp_calloc(x->n_dslots, sizeof *x->dslots);
    x->downer = dp_malloc(x->n_dslots * sizeof *x->downer);
    x->be = be;
    if (!x->dslots || !x->downer) return dp_err_set(e, DP_ERR_NOMEM, "paging: out of memory");
    for (uint32_t i = 0; i < x->n_dslots; i++) {
        x->downer[i] = -1;
        dp_tensor *t = &x->dslots[i];
        t->dtype = DP_DTYPE_F32;
        t->ne[0] = (int64_t)(x->dslot_bytes / 4);
        t->ne[1] = 1;
        t->nbytes = x->dslot_bytes;
        dp_status st = be->i->tensor_alloc(be, t, e);
        if (st != DP_OK) {
            x->n_dslots = i; /* the ones made are freed with the cache */
            dp_err_prefix(e, "paging: device slot %u of %" PRIu64 " bytes", i, x->dslot_bytes);
            return st;
        }
    }
    x->group = 1;
    x->st.device_slots = x->n_dslots;
    return DP_OK;
}

uint64_t dp_experts_bytes(const dp_experts *x) {
    uint64_t n = 0;
    for (size_t i = 0; i < (size_t)x->n_layers * (size_t)x->n_expert; i++)
        for (int k = 0; k < 3; k++) n += x->ent[i].proto[k].nbytes;
    return n;
}

uint32_t dp_experts_device_slots(const dp_experts *x) { return x ? x->n_dslots : 0; }

void dp_experts_group(void *ud) {
    dp_experts *x = ud;
    if (x) x->group++;
}

static bool x_outside_group(const dp_experts *x, int32_t ent, int32_t arg) {
    (void)arg;
    return x->ent[ent].dgroup != x->group;
}

dp_status dp_experts_fetch_device(void *ud, int layer, int expert, bool again, dp_tensor w[3], dp_error *e) {
    dp_experts *x = ud;
    if (!x || !x->n_dslots || layer < 0 || layer >= x->n_layers || expert < 0 || expert >= x->n_expert)
        return dp_err_set(e, DP_ERR_INVALID_ARG, "paging: no device expert %d in layer %d", expert, layer);
    int32_t idx = layer * x->n_expert + expert;
    x_entry *en = &x->ent[idx];
    if (en->dslot < 0) {
        int32_t s = x_victim_in(x, x->downer, x->n_dslots, x_outside_group, 0);
        if (s < 0)
            return dp_err_set(e, DP_ERR_LIMIT, "paging: more experts in one group than the %u device slots",
                              x->n_dslots);
        dp_tensor rw[3]; /* its bytes in RAM, verified: a RAM hit or a read from the source */
        dp_status st = dp_experts_fetch(ud, layer, expert, rw, e);
        if (st != DP_OK) return st;
        double t0 = dp_time_now();
        int32_t *so = &x->downer[s];
        if (*so >= 0) x->ent[*so].dslot = -1;
        *so = -1;
        for (int k = 0; k < 3 && st == DP_OK; k++)
            st = x->be->i->tensor_set(x->be, &x->dslots[s], en->dtoff[k], rw[k].data, rw[k].nbytes, e);
        x->st.wait_s += dp_time_now() - t0;
        if (st != DP_OK) {
            dp_err_prefix(e, "paging layer %d expert %d: upload", layer, expert);
            return st;
        }
        *so = idx;
        en->dslot = s;
        for (int k = 0; k < 3; k++) x->st.device_bytes += rw[k].nbytes;
    } else if (!again) { /* a later phase of the same op re-fetching a resident expert: no new use */
        x_touch(x, en);
        x->st.device_hits++;
        en->last = x->tick;
    }
    en->dgroup = x->group;
    for (int k = 0; k < 3; k++) {
        w[k] = en->proto[k];
        w[k].data = NULL;
        w[k].handle = x->dslots[en->dslot].handle;
        w[k].offset = x->dslots[en->dslot].offset + en->dtoff[k];
    }
    return DP_OK;
}

void dp_experts_stats(const dp_experts *x, dp_paging_stats *out) {
    *out = x->st;
    double share = 0;
    int layers = 0;
    for (int l = 0; l < x->n_layers; l++) {
        uint64_t tot = 0, a = 0, b = 0; /* the two largest counts */
        for (int i = 0; i < x->n_expert; i++) {
            uint64_t u = x->ent[l * x->n_expert + i].uses;
            tot += u;
            if (u > a) { b = a; a = u; }
            else if (u > b) b = u;
        }
        if (tot) {
            share += (double)(a + b) / (double)tot;
            layers++;
        }
    }
    out->top2_share = layers ? share / layers : 0;
}
