/* hf.h — mapping of Hugging Face hub tensor names onto canonical tensors. */
#ifndef DP_HF_H
#define DP_HF_H

#include "model/model.h"

/* roles beyond dp_wrole for non-layer and fused hub tensors */
enum {
    DP_HF_EMBED = 100, DP_HF_OUTPUT_NORM, DP_HF_OUTPUT,
    DP_HF_FUSED_QKV,     /* Phi-3 qkv_proj: rows q | k | v */
    DP_HF_FUSED_GATE_UP  /* Phi-3 gate_up_proj: rows gate | up */
};

typedef struct dp_hf_name {
    int role;    /* dp_wrole or DP_HF_* */
    int layer;   /* -1 outside layers */
    int expert;  /* -1 unless an expert tensor */
} dp_hf_name;

/* false when the name is not one Doppler uses (the converter reports it). */
bool dp_hf_map_name(const dp_model_desc *d, const char *hf_name, dp_hf_name *out);

#endif
