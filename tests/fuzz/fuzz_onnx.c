/* fuzz_onnx.c — libFuzzer target for the ONNX reader: any bytes give a graph or NULL with a message,
 * never a crash, a leak, an overrun or undefined behaviour. A graph that loads is also planned and run
 * once when it is small, so that what the reader accepts is known to be safe to execute. */
#include "cnn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_VALUES 200000 /* activations per sample summed over the layers */
#define RUN_MAX_MACS 2000000

/* Small enough to plan and run at batch 1 within the fuzzer's time and memory? */
static bool small_graph(const cnn_graph *g) {
    int64_t values = 0, macs = 0;
    for (int64_t i = 0; i < cnn_graph_node_count(g); i++) {
        const cnn_node *x = cnn_graph_node(g, i);
        int64_t dims[CNN_MAX_RANK], numel = 1;
        cnn_node_shape(x, dims);
        for (int d = 1; d < cnn_node_rank(x); d++) {
            if (dims[d] > RUN_MAX_VALUES) return false;
            numel *= dims[d];
            if (numel > RUN_MAX_VALUES) return false;
        }
        values += numel;
        macs += cnn_node_macs(x) > 0 ? cnn_node_macs(x) : 0;
        if (values > RUN_MAX_VALUES || macs > RUN_MAX_MACS || cnn_node_param_count(x) > RUN_MAX_VALUES) return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cnn_set_threads(1);
    cnn_clear_error();
    cnn_graph *g = cnn_onnx_load_memory(data, size, "fuzz.onnx");
    if (!g) {
        if (!cnn_last_error()[0] || strchr(cnn_last_error(), '\n')) abort(); /* a failure says why, on one line */
        return 0;
    }
    if (small_graph(g)) {
        cnn_plan *p = cnn_plan_create(g, 1, 0);
        if (p) {
            for (int i = 0; i < cnn_graph_input_count(g); i++) {
                cnn_tensor *in = cnn_plan_input(p, i);
                for (int64_t k = 0; in && k < cnn_tensor_numel(in); k++) in->data[k] = (float)(k % 7) - 3.0f;
            }
            cnn_plan_forward(p);
            cnn_plan_free(p);
        }
    }
    cnn_graph_free(g);
    return 0;
}
