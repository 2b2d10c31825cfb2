/* export.c — `cnn export MODEL --weights W.safetensors --onnx OUT.onnx`: the eval-mode network (main
 * head) as an ONNX file, opset 13, batch dimension "N". */
#include "cli.h"

#include <string.h>

int cmd_export(int argc, char **argv) {
    cli_model m = {0};
    const char *weights = NULL, *onnx = NULL;
    cli_option opts[] = {
        {"--weights", CLI_STRING, &weights, "weights (.safetensors, PyTorch state_dict names; not for .onnx)"},
        {"--onnx", CLI_STRING, &onnx, "the ONNX file to write (atomically)"},
        CLI_MODEL_OPTIONS(m),
        {NULL, 0, NULL, NULL},
    };
    const char *pos[1];
    int n_pos, rc = cli_parse("export",
                              "usage: cnn export MODEL --weights W.safetensors --onnx OUT.onnx [--input CxHxW] [--classes N] "
                              "[--variant V]\n"
                              "writes the eval-mode network (main head, dropout left out) as ONNX opset 13 with a dynamic\n"
                              "batch dimension N; the input size is fixed at export (the model's default or --input)",
                              argc, argv, opts, pos, 1, &n_pos);
    if (rc) return rc < 0 ? 2 : 0;
    if (n_pos != 1) return cli_fail("export", "needs a MODEL (see 'cnn --help' for the zoo)"), 2;
    if (!onnx) return cli_fail("export", "needs --onnx OUT.onnx"), 2;
    const bool from_onnx = cli_is_onnx(pos[0]);
    if (from_onnx && weights) return cli_fail("export", "%s: --weights does not apply to an ONNX model (its weights are in the file)", pos[0]), 2;
    if (!from_onnx && !weights) return cli_fail("export", "needs --weights W.safetensors"), 2;

    cnn_graph *g = cli_build_model("export", pos[0], &m, 0, 0, 0);
    if (!g) return 1;
    int status = 1;
    if (weights && cnn_graph_load_weights(g, weights)) {
        cli_fail_lib("export");
        goto done;
    }
    if (cnn_onnx_save(g, onnx)) {
        cli_fail_lib("export");
        goto done;
    }
    int64_t in[CNN_MAX_RANK], out[CNN_MAX_RANK];
    cnn_node_shape(cnn_graph_input(g, 0), in);
    cnn_node_shape(cnn_graph_output(g, 0), out);
    printf("%s: %s, input N x %lld x %lld x %lld, output N x %lld, ONNX opset 13\n", onnx, pos[0], (long long)in[1], (long long)in[2],
           (long long)in[3], (long long)out[1]);
    status = 0;
done:
    cnn_graph_free(g);
    return status;
}
