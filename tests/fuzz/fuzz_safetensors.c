/* fuzz_safetensors.c — libFuzzer target for the safetensors reader: any bytes give a file or NULL with
 * a message; every tensor the reader accepts converts to floats within its bytes. */
#include "cnn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CONVERT_MAX 1000000 /* elements converted per tensor */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cnn_clear_error();
    cnn_safetensors *f = cnn_safetensors_read_memory(data, size, "fuzz.safetensors");
    if (!f) {
        if (!cnn_last_error()[0] || strchr(cnn_last_error(), '\n')) abort(); /* a failure says why, on one line */
        return 0;
    }
    for (int i = 0; i < cnn_safetensors_count(f); i++) {
        cnn_st_tensor t;
        if (cnn_safetensors_get(f, i, &t)) abort();
        cnn_st_tensor found;
        if (cnn_safetensors_find(f, t.name, &found)) abort();
        if (t.numel < 0 || t.numel > CONVERT_MAX) continue;
        float *x = malloc((size_t)(t.numel ? t.numel : 1) * sizeof *x);
        if (x && cnn_st_tensor_to_f32(&t, x, t.numel)) abort();
        free(x);
    }
    (void)cnn_safetensors_metadata(f, "format");
    cnn_safetensors_free(f);
    return 0;
}
