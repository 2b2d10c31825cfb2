/* images.c — `cnn images SPEC --out DIR [--split test] [--count N] [--first I]`: dataset images written as PNG files. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_images(int argc, char **argv) {
    const char *out = NULL, *split = "test";
    long long count = 8, first = 0;
    cli_option opts[] = {
        {"--out", CLI_STRING, &out, "directory for the PNG files (created if missing)"},
        {"--split", CLI_STRING, &split, "train or test (default test)"},
        {"--count", CLI_INT, &count, "how many images (default 8)"},
        {"--first", CLI_INT, &first, "index of the first image (default 0)"},
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("images", "usage: cnn images SPEC --out DIR [--split test] [--count N] [--first I]", argc, argv, opts,
                              pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1 || !out) return cli_fail("images", "needs a data SPEC and --out DIR"), 2;
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0) return cli_fail("images", "--split: '%s' is not train or test", split), 2;
    if (count < 1 || first < 0) return cli_fail("images", "--count must be positive and --first not negative"), 2;
    cnn_dataset *d = cnn_dataset_open(pos[0], strcmp(split, "train") == 0 ? CNN_SPLIT_TRAIN : CNN_SPLIT_TEST, 0, 0);
    if (!d) return cli_fail_lib("images");
    int64_t c, h, w;
    cnn_dataset_shape(d, &c, &h, &w);
    float *x = calloc((size_t)(c * h * w), sizeof *x);
    int status = 1;
    if (!x) goto done;
    if (mkdir(out, 0755) != 0 && !cli_is_dir(out)) {
        cli_fail("images", "%s: cannot create the directory", out);
        goto done;
    }
    for (long long i = first; i < first + count && i < cnn_dataset_size(d); i++) {
        int64_t label;
        char path[4096], name[64];
        if (cnn_dataset_get(d, i, x, &label)) {
            cli_fail_lib("images");
            goto done;
        }
        snprintf(name, sizeof name, "%s", cnn_dataset_class_name(d, label));
        for (char *p = name; *p; p++)
            if (*p == '/' || *p == ' ') *p = '-';
        snprintf(path, sizeof path, "%s/%05lld_%s.png", out, i, name);
        if (cnn_image_write_png(path, c, h, w, x)) {
            cli_fail_lib("images");
            goto done;
        }
        printf("%s\n", path);
    }
    status = 0;
done:
    free(x);
    cnn_dataset_free(d);
    return status;
}
