/* experts.h — the expert cache of a paged MoE model (dp_load_params.ram_cache / gpu_mem).
 *
 * A paged model keeps its dense tensors resident as usual and leaves every expert where it is
 * stored: the cache pages an expert in when a token selects it and nothing else is read.
 *
 * Tiers, fastest first:
 *   device  slots in the backend's own memory (WebGPU: a pool of expert slots under gpu_mem);
 *   ram     a pool of RAM slots sized by ram_cache, each holding one expert's bytes (on the CPU
 *           backend the matmuls read the slot directly: the RAM tier is where CPU experts live);
 *   source  the model's dp_shard_source through dp_reader.read_at: the model directory on disk,
 *           or any source that can read a byte range of a shard (a lazy network store plugs in
 *           here without the cache knowing).
 * A miss in one tier asks the next.
 *
 * Layout and reads: an expert's three tensors are grouped by shard into pieces, each piece the
 * byte range of its shard that covers the expert's spans there (converters and synth keep
 * gate, up, down adjacent, so a piece is one range and an expert stored in one shard is one read;
 * an expert spread over three shards is three). A tensor split over several spans (larger than a
 * shard) cannot be paged: the load says so.
 *
 * Integrity: every page-in is checked with SHA-256 before its bytes are used. A piece that is a
 * whole shard (synth writes each expert to shards of its own) is checked against the manifest's
 * hash of that shard. A piece that shares its shard with other tensors is checked against a
 * digest of the piece recorded the first time the shard is needed, when the whole shard is
 * streamed once and verified against the manifest. A shard that is missing, has changed size,
 * fails to read or no longer hashes right gives a one-line error (DP_ERR_NOT_FOUND / DP_ERR_HASH
 * / DP_ERR_IO) from the op that needed it, never bytes that were not verified.
 *
 * Eviction: "lfu" (default; frequency with aging: every access adds 1, and all counts halve
 * every n_layers * n_expert accesses; ties go to the least recently used) or "lru". The expert
 * fetched last stays resident until the next fetch, so one slot is enough for any op.
 *
 * Allocation: the slots, the tables, a 4 MiB staging buffer for streaming verification, a job per
 * slot and the page-in threads (up to 4, never more than slots - 1) are made with the cache; a
 * fetch allocates nothing. Not thread-safe (the model's backend is used from one thread at a
 * time): the page-in threads only read into slots reserved for them and report to the caller's
 * thread, which alone changes the tables; shard opens are serialised (a shard source need not
 * be thread-safe). */
#ifndef DP_RUNTIME_EXPERTS_H
#define DP_RUNTIME_EXPERTS_H

#include "backend/backend.h"
#include "format/rdrr.h"
#include "model/model.h"

typedef struct dp_experts dp_experts;

/* The cache for the experts of d stored in r, with ram_bytes of RAM slots (at least one slot:
 * DP_ERR_INVALID_ARG names the smallest budget when fewer fit; 0: exactly one, the staging slot
 * of a device tier) and an eviction policy ("lfu",
 * "lru"; NULL: "lfu"). With in_place, a miss is computed where it lives (the Fiddler approach):
 * from a private mapping of its shard, checked the same way, without a copy into a slot; it
 * enters the RAM cache only when a slot is free or it has been used more than the victim.
 * predict_k > 0: dp_experts_predict pages in ahead, the forward pass predicting each token's
 * predict_k most likely experts of the next layer (dp_experts_predict_k). r must outlive the
 * cache. */
dp_status dp_experts_new(dp_rdrr *r, const dp_model_desc *d, uint64_t ram_bytes, const char *policy,
                         bool in_place, int predict_k, dp_experts **out, dp_error *e);
void dp_experts_free(dp_experts *x);

/* Make expert `expert` of layer `layer` resident (paging it in when it is not) and fill w[0..2]
 * (gate, up, down) with tensors on its bytes, valid until the next fetch. The signature of
 * dp_expert_src.fetch (ud is the dp_experts). */
dp_status dp_experts_fetch(void *ud, int layer, int expert, dp_tensor w[3], dp_error *e);

/* The experts the current op selected in `layer` (ids[0..n), ascending: the order the op fetches
 * them in; the signature of dp_expert_src.want). They are pinned: no page-in started ahead evicts
 * one before the op has used it. Every one not resident starts paging in at once, each on a
 * page-in thread of its own (native builds, up to 4 at a time), into a slot reserved now, so
 * the reads overlap each other and the products of the experts already resident; a fetch waits
 * only for its own expert's read. As the op uses its experts, the slots they leave take the
 * selected ones still missing. Also settles the page-ins finished since the last call and drops
 * queued ones (not yet started) of experts the op did not select. A no-op for the paging itself
 * in the WebAssembly build and with in-place misses (the fetches page in then). */
void dp_experts_want(void *ud, int layer, const int32_t *ids, int n);

/* A prediction that `layer` (a later one) selects ids[0..n) (the signature of
 * dp_expert_src.predict): those not resident start paging in after everything wanted, into
 * slots that hold no expert the current op still needs. The real selection decides at that
 * layer's want: a misprediction costs its read (or nothing, when it has not started), a missed
 * one is paged in then. Counted in dp_paging_stats (predicted, predict_hits, predict_total,
 * unused_bytes). Ignored unless dp_experts_predict_k > 0. */
void dp_experts_predict(void *ud, int layer, const int32_t *ids, int n);

/* The experts per token to predict a layer ahead: the cache's predict_k when it has page-in
 * threads to act on a prediction (native builds, at least two slots, misses not in place), else
 * 0 (also for NULL). The forward pass computes the prediction only when it is > 0. */
int dp_experts_predict_k(const dp_experts *x);

/* The device tier: slots in be's own memory (tensor_alloc), as many as fit in `bytes`, each
 * holding one expert's gate, up and down at 256-aligned offsets (DP_ERR_INVALID_ARG naming the
 * size of one when none fits). A page-in to the device goes through the RAM tier (checked
 * there) and into the slot with tensor_set. be must outlive the cache. */
dp_status dp_experts_set_device(dp_experts *x, dp_backend *be, uint64_t bytes, dp_error *e);
uint32_t dp_experts_device_slots(const dp_experts *x); /* 0: no device tier */
/* The bytes of every expert's three tensors (what stays off the device when it pages). */
uint64_t dp_experts_bytes(const dp_experts *x);

/* Start a device group (dp_expert_src.group): the experts fetched to the device from now on may
 * evict any fetched before, never one of the same group. */
void dp_experts_group(void *ud);
/* Make expert `expert` of `layer` resident in a device slot (paging it in through the RAM tier
 * when it is not; the eviction policy chooses among slots outside the current group) and fill
 * w[0..2] with views of the slot (handle + offset, data NULL), valid until a later group
 * evicts it. DP_ERR_LIMIT when the group already holds every slot. The signature of
 * dp_expert_src.fetch_device. */
dp_status dp_experts_fetch_device(void *ud, int layer, int expert, bool again, dp_tensor w[3], dp_error *e);

/* The counters so far (doppler.h dp_paging_stats). */
void dp_experts_stats(const dp_experts *x, dp_paging_stats *out);

/* The RAM budget that gives `slots` slots per layer (tests, and the figures in the docs). */
uint64_t dp_experts_budget(const dp_experts *x, int slots_per_layer);

#endif
