/* cli.h — what the subcommands share: option tables, model options, error printing. */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

#include <stdio.h>

typedef enum cli_kind { CLI_STRING, CLI_INT, CLI_FLOAT, CLI_FLAG, CLI_STRINGS } cli_kind;

/* One option: --name VALUE (or a flag). CLI_STRINGS collects repeated values into a cli_list. */
typedef struct cli_option {
    const char *name;
    cli_kind kind;
    void *dest;
    const char *help;
} cli_option;

typedef struct cli_list {
    const char *items[64];
    int count;
} cli_list;

/* Parses argv[first..]: options from `opts` (a NULL-named entry ends the table), the rest as
 * positionals (at most max_pos). Unknown options, missing or malformed values print one line
 * "cnn CMD: ..." and return -1; --help prints usage and returns 1. */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, const cli_option *opts, const char **pos,
              int max_pos, int *n_pos);

/* The model options every command accepts (--classes, --input, --aux/--no-aux, --variant). */
typedef struct cli_model {
    long long classes;
    const char *input;   /* "CxHxW" */
    int aux, no_aux;
    const char *variant;
} cli_model;
#define CLI_MODEL_OPTIONS(m)                                                                           \
    {"--classes", CLI_INT, &(m).classes, "number of classes (default 1000; 10 for lenet5, minigooglenet)"}, \
    {"--input", CLI_STRING, &(m).input, "input size CxHxW (default: the model's)"},                     \
    {"--aux", CLI_FLAG, &(m).aux, "build the auxiliary classifiers (googlenet, inception_v3)"},        \
    {"--no-aux", CLI_FLAG, &(m).no_aux, "leave the auxiliary classifiers out"},                          \
    {"--variant", CLI_STRING, &(m).variant, "model variant (googlenet: paper)"}

/* Builds the zoo model; channels/height/width > 0 override --input. Prints the error. */
cnn_graph *cli_build_model(const char *cmd, const char *model, const cli_model *m, int64_t channels, int64_t height,
                           int64_t width);
/* Builds the model for a dataset: the input size is the data's (the channels the model's: 1-channel
 * data is repeated) unless --input says otherwise; classes are the data's unless --classes. */
cnn_graph *cli_build_for_data(const char *cmd, const char *model, const cli_model *m, const cnn_dataset *d);
/* Opens a data SPEC for a model (folder images are sized to its input); prints the error. */
cnn_dataset *cli_open_data(const char *cmd, const char *spec, cnn_split split, const char *model, const cli_model *m);
/* Parses "CxHxW". */
int cli_parse_size(const char *text, int64_t *c, int64_t *h, int64_t *w);

/* Prints "cnn CMD: <library error>" and returns 1. */
int cli_fail_lib(const char *cmd);
/* Prints "cnn CMD: <message>" and returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Evaluation over a whole dataset split (tools/cnn/evaluate.c). */
typedef struct cli_eval {
    int64_t n, classes;
    double loss;                 /* mean cross-entropy */
    int64_t top1, top5;          /* counts */
    int64_t *confusion;          /* classes x classes: [true][predicted] */
} cli_eval;
int cli_evaluate(cnn_graph *g, const cnn_dataset *d, int64_t batch, cli_eval *r);
void cli_eval_free(cli_eval *r);

int cmd_summary(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Does MODEL name an .onnx file (rather than a zoo model)? */
bool cli_is_onnx(const char *model);
/* Is path an existing directory? */
bool cli_is_dir(const char *path);

#endif
