/* cli.c — option parsing, model options and error printing shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cnn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_lib(const char *cmd) { return cli_fail(cmd, "%s", cnn_last_error()); }

static void print_usage(const char *usage, const cli_option *opts) {
    printf("%s\noptions:\n", usage);
    for (const cli_option *o = opts; o->name; o++) {
        const char *arg = o->kind == CLI_FLAG ? "" : o->kind == CLI_INT ? " N" : o->kind == CLI_FLOAT ? " X" : " VALUE";
        char left[64];
        snprintf(left, sizeof left, "%s%s", o->name, arg);
        printf("  %-24s %s\n", left, o->help);
    }
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, const cli_option *opts, const char **pos,
              int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(usage, opts);
            return 1;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (*n_pos >= max_pos) {
                cli_fail(cmd, "unexpected argument '%s' (see 'cnn %s --help')", a, cmd);
                return -1;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const cli_option *o = NULL;
        for (const cli_option *q = opts; q->name && !o; q++)
            if (strcmp(q->name, a) == 0) o = q;
        if (!o) {
            cli_fail(cmd, "unknown option '%s' (see 'cnn %s --help')", a, cmd);
            return -1;
        }
        if (o->kind == CLI_FLAG) {
            *(int *)o->dest = 1;
            continue;
        }
        if (i + 1 >= argc) {
            cli_fail(cmd, "%s needs a value", a);
            return -1;
        }
        const char *v = argv[++i];
        char *end;
        errno = 0;
        switch (o->kind) {
        case CLI_STRING: *(const char **)o->dest = v; break;
        case CLI_STRINGS: {
            cli_list *l = o->dest;
            if (l->count == 64) {
                cli_fail(cmd, "%s given more than 64 times", a);
                return -1;
            }
            l->items[l->count++] = v;
        } break;
        case CLI_INT: {
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end) {
                cli_fail(cmd, "%s: '%s' is not a whole number", a, v);
                return -1;
            }
            *(long long *)o->dest = n;
        } break;
        case CLI_FLOAT: {
            double d = strtod(v, &end);
            if (errno || end == v || *end) {
                cli_fail(cmd, "%s: '%s' is not a number", a, v);
                return -1;
            }
            *(double *)o->dest = d;
        } break;
        case CLI_FLAG: break;
        }
    }
    return 0;
}

int cli_parse_size(const char *text, int64_t *c, int64_t *h, int64_t *w) {
    long long a, b, d;
    char tail;
    if (sscanf(text, "%lldx%lldx%lld%c", &a, &b, &d, &tail) != 3 || a < 1 || b < 1 || d < 1 || a > INT_MAX || b > INT_MAX ||
        d > INT_MAX)
        return -1;
    *c = a, *h = b, *w = d;
    return 0;
}

bool cli_is_onnx(const char *model) {
    size_t len = strlen(model);
    return len > 5 && strcmp(model + len - 5, ".onnx") == 0;
}

cnn_graph *cli_build_model(const char *cmd, const char *model, const cli_model *m, int64_t channels, int64_t height,
                           int64_t width) {
    if (cli_is_onnx(model)) { /* the file fixes the network, its input size and its weights */
        if (m->classes || m->input || m->aux || m->no_aux || m->variant) {
            cli_fail(cmd, "%s: --classes, --input, --aux and --variant do not apply to an ONNX model", model);
            return NULL;
        }
        (void)channels, (void)height, (void)width;
        cnn_graph *g = cnn_onnx_load(model);
        if (!g) cli_fail_lib(cmd);
        return g;
    }
    /* Commands that only run the network leave the auxiliary heads out unless asked: eval never
     * uses them, and they limit the input sizes a model takes. */
    bool eval_only = strcmp(cmd, "train") != 0;
    cnn_model_options o = {.aux = eval_only ? 0 : -1, .variant = m->variant};
    if (m->aux && m->no_aux) {
        cli_fail(cmd, "--aux and --no-aux both given");
        return NULL;
    }
    if (m->aux) o.aux = 1;
    if (m->no_aux) o.aux = 0;
    if (m->classes < 0 || m->classes > INT_MAX) {
        cli_fail(cmd, "--classes must be a positive number (got %lld)", m->classes);
        return NULL;
    }
    o.classes = m->classes;
    if (m->input && cli_parse_size(m->input, &o.channels, &o.height, &o.width)) {
        cli_fail(cmd, "--input: '%s' is not CxHxW with positive sizes", m->input);
        return NULL;
    }
    if (channels > 0) o.channels = channels;
    if (height > 0) o.height = height;
    if (width > 0) o.width = width;
    cnn_graph *g = cnn_model_build(model, &o);
    if (!g) cli_fail_lib(cmd);
    return g;
}

cnn_graph *cli_build_for_data(const char *cmd, const char *model, const cli_model *m, const cnn_dataset *d) {
    if (cli_is_onnx(model)) return cli_build_model(cmd, model, m, 0, 0, 0);
    cli_model mm = *m;
    if (mm.classes == 0) mm.classes = cnn_dataset_classes(d);
    if (mm.input) return cli_build_model(cmd, model, &mm, 0, 0, 0);
    /* The model's default channel count: build once at its default size to read it. */
    cnn_graph *probe = cli_build_model(cmd, model, &mm, 0, 0, 0);
    if (!probe) return NULL;
    int64_t want[CNN_MAX_RANK], c, h, w;
    cnn_node_shape(cnn_graph_input(probe, 0), want);
    cnn_graph_free(probe);
    cnn_dataset_shape(d, &c, &h, &w);
    if (c != want[1] && c != 1) {
        cli_fail(cmd, "the data has %lld channels but %s takes %lld", (long long)c, model, (long long)want[1]);
        return NULL;
    }
    return cli_build_model(cmd, model, &mm, want[1], h, w);
}

bool cli_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

cnn_dataset *cli_open_data(const char *cmd, const char *spec, cnn_split split, const char *model, const cli_model *m) {
    int64_t h = 0, w = 0;
    /* Folder images are resized to the network's input: the --input size, else the model's default. */
    if (strncmp(spec, "folder:", 7) == 0) {
        cnn_graph *probe = cli_build_model(cmd, model, m, 0, 0, 0);
        if (!probe) return NULL;
        int64_t d[CNN_MAX_RANK];
        cnn_node_shape(cnn_graph_input(probe, 0), d);
        cnn_graph_free(probe);
        h = d[2], w = d[3];
    }
    cnn_dataset *d = cnn_dataset_open(spec, split, h, w);
    if (!d) cli_fail_lib(cmd);
    return d;
}
