/* main.c — the `cnn` command: dispatches to one file per subcommand. */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"summary", cmd_summary, "layer table and totals of a model"},
    {"run", cmd_run, "eval-mode forward pass of an .npy input"},
    {"train", cmd_train, "train on a dataset"},
    {"eval", cmd_eval, "loss, top-1, top-5 and confusion matrix on a test set"},
    {"predict", cmd_predict, "top-5 classes of PNG/JPEG images"},
    {"images", cmd_images, "write a dataset's images as PNG files"},
    {"bench", cmd_bench, "time inference or training steps: median ms, images/s, GFLOP/s, memory"},
    {"export", cmd_export, "write a model with its weights as an ONNX file"},
};

static void usage(FILE *to) {
    fprintf(to, "usage: cnn COMMAND [options]\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(to, "run 'cnn COMMAND --help' for its options\nmodels:");
    for (const char *const *n = cnn_model_names(); *n; n++) fprintf(to, " %s", *n);
    fprintf(to, "\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "cnn: unknown command '%s' (try 'cnn --help')\n", argv[1]);
    return 2;
}
