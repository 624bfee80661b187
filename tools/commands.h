/* commands.h — the doppler CLI's subcommands; each lives in tools/cmd_<name>.c. */
#ifndef DP_COMMANDS_H
#define DP_COMMANDS_H

/* Each returns the process exit status (0 ok, 1 error, 2 usage). argv[0] is the command name. */
int cmd_convert(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export_gguf(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_torrent(int argc, char **argv);

#endif
