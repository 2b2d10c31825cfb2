/* history.c — per-epoch training records: CSV log, checkpoint round trip, SVG plot of the curves. */
#include "history.h"

#include "cnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int history_add(history *h, const epoch_record *r) {
    if (h->count == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 16;
        epoch_record *rows = realloc(h->rows, (size_t)cap * sizeof *rows);
        if (!rows) return -1;
        h->rows = rows;
        h->cap = cap;
    }
    h->rows[h->count++] = *r;
    return 0;
}

void history_free(history *h) {
    free(h->rows);
    memset(h, 0, sizeof *h);
}

static const char *csv_header = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n";

char *history_to_csv(const history *h) {
    size_t size = strlen(csv_header) + (size_t)h->count * 160 + 1;
    char *text = malloc(size);
    if (!text) return NULL;
    size_t used = (size_t)snprintf(text, size, "%s", csv_header);
    for (int64_t i = 0; i < h->count; i++) {
        const epoch_record *r = &h->rows[i];
        char val_loss[32] = "", val_acc[32] = "";
        if (!isnan(r->val_loss)) snprintf(val_loss, sizeof val_loss, "%.6f", r->val_loss);
        if (!isnan(r->val_acc)) snprintf(val_acc, sizeof val_acc, "%.6f", r->val_acc);
        used += (size_t)snprintf(text + used, size - used, "%lld,%.6f,%.6f,%s,%s,%.8g,%.2f\n", (long long)r->epoch,
                                 r->train_loss, r->train_acc, val_loss, val_acc, r->lr, r->seconds);
    }
    return text;
}

static double field(const char **p) {
    char *end;
    double v = **p == ',' || **p == '\n' ? NAN : strtod(*p, &end);
    if (!isnan(v)) *p = end;
    if (**p == ',') (*p)++;
    return v;
}

int history_from_csv(history *h, const char *text) {
    history_free(h);
    const char *p = strchr(text, '\n');
    if (!p || strncmp(text, csv_header, strlen(csv_header)) != 0) return -1;
    p++;
    while (*p) {
        epoch_record r;
        r.epoch = (int64_t)field(&p);
        r.train_loss = field(&p), r.train_acc = field(&p), r.val_loss = field(&p), r.val_acc = field(&p);
        r.lr = field(&p), r.seconds = field(&p);
        if (*p != '\n' || history_add(h, &r)) return -1;
        p++;
    }
    return 0;
}

/* Writes text to path through a temporary file, fsync and rename (the library's atomic write). */
static int write_atomic(const char *path, const char *text) { return cnn_write_file_atomic(path, text, strlen(text)); }

int history_write_csv(const history *h, const char *path) {
    char *text = history_to_csv(h);
    int rc = text ? write_atomic(path, text) : -1;
    free(text);
    return rc;
}

/* The plotted value of a record: which 0 loss, 1 accuracy (%); k 0 train, 1 validation. */
static double plotted(const epoch_record *r, int which, int k) {
    return which ? 100 * (k ? r->val_acc : r->train_acc) : (k ? r->val_loss : r->train_loss);
}

/* One panel: curves of `which` (0 loss, 1 accuracy) for train and validation. */
static int panel(char *out, size_t size, const history *h, int which, double x0, double y0, double w, double ht) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < h->count; i++)
        for (int k = 0; k < 2; k++) {
            double v = plotted(&h->rows[i], which, k);
            if (!isnan(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    if (!(hi > lo)) hi = lo + 1;
    if (which == 0) lo = fmin(lo, 0);
    int used = snprintf(out, size,
                        "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='white' stroke='#999'/>\n"
                        "<text x='%.0f' y='%.0f' font-size='14' text-anchor='middle'>%s</text>\n"
                        "<text x='%.0f' y='%.0f' font-size='11' text-anchor='end'>%.3g</text>\n"
                        "<text x='%.0f' y='%.0f' font-size='11' text-anchor='end'>%.3g</text>\n"
                        "<text x='%.0f' y='%.0f' font-size='11' text-anchor='middle'>epoch</text>\n",
                        x0, y0, w, ht, x0 + w / 2, y0 - 8, which ? "accuracy (%)" : "loss", x0 - 4, y0 + 10, hi, x0 - 4,
                        y0 + ht, lo, x0 + w / 2, y0 + ht + 28);
    const char *colors[2] = {"#1f77b4", "#d62728"};
    for (int k = 0; k < 2; k++) {
        used += snprintf(out + used, size - (size_t)used, "<polyline fill='none' stroke='%s' stroke-width='2' points='", colors[k]);
        for (int64_t i = 0; i < h->count; i++) {
            double v = plotted(&h->rows[i], which, k);
            if (isnan(v)) continue;
            double x = x0 + (h->count > 1 ? w * (double)i / (double)(h->count - 1) : w / 2);
            double y = y0 + ht - ht * (v - lo) / (hi - lo);
            used += snprintf(out + used, size - (size_t)used, "%.1f,%.1f ", x, y);
        }
        used += snprintf(out + used, size - (size_t)used, "'/>\n");
    }
    return used;
}

int history_write_svg(const history *h, const char *path, const char *title) {
    size_t size = 8192 + (size_t)h->count * 200;
    char *svg = malloc(size);
    if (!svg) return -1;
    int used = snprintf(svg, size,
                        "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='380' font-family='sans-serif'>\n"
                        "<rect width='900' height='380' fill='#fafafa'/>\n"
                        "<text x='450' y='22' font-size='16' text-anchor='middle'>%s</text>\n"
                        "<text x='330' y='370' font-size='12' fill='#1f77b4'>train</text>"
                        "<text x='400' y='370' font-size='12' fill='#d62728'>validation</text>\n",
                        title);
    used += panel(svg + used, size - (size_t)used, h, 0, 60, 60, 360, 250);
    used += panel(svg + used, size - (size_t)used, h, 1, 510, 60, 360, 250);
    snprintf(svg + used, size - (size_t)used, "</svg>\n");
    int rc = write_atomic(path, svg);
    free(svg);
    return rc;
}
