/* history.h — per-epoch training records, their CSV log and SVG plot. */
#ifndef CNN_CLI_HISTORY_H
#define CNN_CLI_HISTORY_H

#include <stdint.h>

typedef struct epoch_record {
    int64_t epoch;                /* 1-based */
    double train_loss, train_acc; /* acc as a fraction */
    double val_loss, val_acc;     /* NAN without --val */
    double lr, seconds;
} epoch_record;

typedef struct history {
    epoch_record *rows;
    int64_t count, cap;
} history;

int history_add(history *h, const epoch_record *r);
void history_free(history *h);
/* CSV text ("epoch,train_loss,...\n" + rows), malloc'd; and back (for checkpoints). */
char *history_to_csv(const history *h);
int history_from_csv(history *h, const char *text);
/* Writes the CSV / an SVG of loss and accuracy curves, atomically. */
int history_write_csv(const history *h, const char *path);
int history_write_svg(const history *h, const char *path, const char *title);

#endif
