/* main.c — the `cnn` command: dispatches to one file per subcommand. */
#include "cnn.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *to) {
    fprintf(to,
            "usage: cnn COMMAND [options]\n"
            "commands:\n"
            "  summary MODEL     layer table and totals\n"
            "  run MODEL         eval-mode forward pass over an .npy input\n"
            "  train MODEL       train on a dataset\n"
            "  eval MODEL        loss, top-1/top-5, confusion matrix\n"
            "  predict MODEL     top-5 classes of images\n"
            "  bench MODEL       time forward or training steps\n"
            "run 'cnn COMMAND --help' for its options\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "cnn: unknown command '%s' (try 'cnn --help')\n", argv[1]);
    return 2;
}
