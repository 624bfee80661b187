/* test_chat_template.c — every template renders the expected prompt for a 2-turn conversation
 * with a system message; detection from names, Jinja texts and families; unknown -> error. */
#include <string.h>

#include "testutil.h"
#include "tokenizer/tokenizer.h"

static const dp_chat_msg CONV[] = {
    {"system", "You are helpful."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "How are you?"},
};

static void expect(dp_chat_kind k, bool gen, const char *want) {
    dp_buf b = {0};
    dp_error e = {0};
    dp_status st = dp_chat_apply(k, CONV, 4, gen, &b, &e);
    CHECK_MSG(st == DP_OK, "%s: %s", dp_chat_name(k), e.msg);
    CHECK_MSG(st == DP_OK && b.data && !strcmp(b.data, want), "%s renders\n[%s]\nexpected\n[%s]", dp_chat_name(k),
              b.data ? b.data : "", want);
    dp_buf_free(&b);
}

static void expect_detect(const char *text, dp_chat_kind want) {
    dp_chat_kind k = DP_CHAT_NONE;
    dp_error e = {0};
    dp_status st = dp_chat_detect(text, &k, &e);
    CHECK_MSG(st == DP_OK && k == want, "detect %.60s: got %s (%s), want %s", text, dp_chat_name(k), e.msg,
              dp_chat_name(want));
}

int main(void) {
    expect(DP_CHAT_CHATML, true,
           "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect(DP_CHAT_CHATML, false,
           "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n");
    expect(DP_CHAT_LLAMA3, true,
           "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(DP_CHAT_GEMMA, true,
           "<start_of_turn>user\nYou are helpful.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
           "<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n");
    expect(DP_CHAT_PHI3, true,
           "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
           "<|user|>\nHow are you?<|end|>\n<|assistant|>\n");
    expect(DP_CHAT_MISTRAL, true, "[INST] You are helpful.\nHi [/INST]Hello!</s>[INST] How are you? [/INST]");
    expect(DP_CHAT_LLAMA2_SYS, true,
           "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] How are you? [/INST]");
    expect(DP_CHAT_LLAMA2_SYS_BOS, true,
           "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST]Hello!</s><s>[INST] How are you? [/INST]");
    expect(DP_CHAT_MISTRAL_V1, true, " [INST] You are helpful.\n\nHi [/INST] Hello!</s> [INST] How are you? [/INST]");
    expect(DP_CHAT_MISTRAL_V3, true, "[INST] You are helpful.\n\nHi[/INST] Hello!</s>[INST] How are you?[/INST]");
    expect(DP_CHAT_MISTRAL_V3_TEKKEN, true, "[INST]You are helpful.\n\nHi[/INST]Hello!</s>[INST]How are you?[/INST]");
    expect(DP_CHAT_MISTRAL_V7, true,
           "[SYSTEM_PROMPT] You are helpful.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello!</s>[INST] How are you?[/INST]");

    /* Gemma and Llama 3 trim contents; ChatML does not */
    {
        dp_chat_msg m[] = {{"user", "  padded \n"}};
        dp_buf b = {0};
        CHECK(dp_chat_apply(DP_CHAT_GEMMA, m, 1, false, &b, NULL) == DP_OK && b.data &&
              !strcmp(b.data, "<start_of_turn>user\npadded<end_of_turn>\n"));
        b.len = 0;
        CHECK(dp_chat_apply(DP_CHAT_CHATML, m, 1, false, &b, NULL) == DP_OK && b.data &&
              !strcmp(b.data, "<|im_start|>user\n  padded \n<|im_end|>\n"));
        dp_buf_free(&b);
    }

    /* detection from names */
    expect_detect("chatml", DP_CHAT_CHATML);
    expect_detect("qwen", DP_CHAT_CHATML);
    expect_detect("llama3", DP_CHAT_LLAMA3);
    expect_detect("gemma", DP_CHAT_GEMMA);
    expect_detect("phi3", DP_CHAT_PHI3);
    expect_detect("mistral", DP_CHAT_MISTRAL);
    expect_detect("mistral-v7", DP_CHAT_MISTRAL_V7);
    /* ... and from the models' Jinja texts */
    expect_detect("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                  "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
                  DP_CHAT_CHATML);
    expect_detect("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                  "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
                  "'<|eot_id|>' %}{{ content }}{% endfor %}",
                  DP_CHAT_LLAMA3);
    expect_detect("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + "
                  "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}",
                  DP_CHAT_GEMMA);
    expect_detect("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + "
                  "'\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% elif "
                  "(message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\\n'}}{% endif %}{% endfor %}",
                  DP_CHAT_PHI3);
    expect_detect("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
                  "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] "
                  "+ eos_token}}{% endif %}{% endfor %}",
                  DP_CHAT_MISTRAL);
    expect_detect("{%- if messages[0]['role'] == 'system' %}{{- '[SYSTEM_PROMPT]' + messages[0]['content'] + "
                  "'[/SYSTEM_PROMPT]' }}{%- endif %}{{- '[INST]' + message['content'] + '[/INST]' }}",
                  DP_CHAT_MISTRAL_V7);

    /* unknown -> a clear error */
    dp_chat_kind k = DP_CHAT_NONE;
    dp_error e = {0};
    CHECK(dp_chat_detect("{% for m in messages %}{{ m.content }}{% endfor %}", &k, &e) == DP_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "unknown chat template") != NULL, "message: %s", e.msg);
    CHECK(dp_chat_apply((dp_chat_kind)99, CONV, 4, true, &(dp_buf){0}, NULL) == DP_ERR_UNSUPPORTED);

    /* families */
    static const struct {
        const char *family;
        dp_chat_kind kind;
    } fam[] = {{"llama", DP_CHAT_LLAMA3}, {"gemma3", DP_CHAT_GEMMA}, {"gemma2", DP_CHAT_GEMMA}, {"qwen3", DP_CHAT_CHATML},
               {"qwen2", DP_CHAT_CHATML}, {"phi3", DP_CHAT_PHI3},   {"mixtral", DP_CHAT_MISTRAL}};
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        k = DP_CHAT_NONE;
        CHECK_MSG(dp_chat_from_family(fam[i].family, &k, NULL) == DP_OK && k == fam[i].kind, "family %s",
                  fam[i].family);
    }
    CHECK(dp_chat_from_family("bert", &k, &e) == DP_ERR_UNSUPPORTED && e.msg[0]);
    CHECK(dp_tokenizer_chat_kind(NULL, NULL, &k, &e) == DP_ERR_NOT_FOUND);

    /* with the fixture tokenizers: Phi-3's GGUF carries its template; a Llama 3 prompt encodes
       with its specials as single ids */
    const char *p = t_shared("fixtures/tokenizers/ggml-vocab-phi-3.gguf");
    if (p) {
        dp_tokenizer *t = NULL;
        CHECK(dp_tokenizer_load(p, &t, &e) == DP_OK);
        k = DP_CHAT_NONE;
        CHECK(t && dp_tokenizer_chat_kind(t, NULL, &k, &e) == DP_OK && k == DP_CHAT_PHI3);
        dp_tokenizer_free(t);
    }
    p = t_shared("fixtures/tokenizers/llama3-tokenizer.model");
    if (p) {
        dp_tokenizer *t = NULL;
        CHECK(dp_tokenizer_load(p, &t, &e) == DP_OK);
        dp_buf b = {0};
        dp_tokens ids = {0};
        dp_chat_msg m[] = {{"user", "Hi"}};
        CHECK(dp_tokenizer_chat_kind(t, "llama", &k, &e) == DP_OK && k == DP_CHAT_LLAMA3);
        CHECK(dp_chat_apply(k, m, 1, true, &b, &e) == DP_OK);
        CHECK(t && dp_tokenizer_encode(t, b.data, b.len, true, true, &ids, &e) == DP_OK);
        /* <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant... */
        static const int32_t want[] = {128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271};
        CHECK_MSG(ids.n == 11 && !memcmp(ids.ids, want, sizeof want), "llama3 chat prompt: %zu ids", ids.n);
        dp_tokens_free(&ids);
        dp_buf_free(&b);
        dp_tokenizer_free(t);
    }
    return t_done("test_chat_template");
}
