/* schedule.c — learning-rate schedules (constant, step, poly, cosine) per epoch, computed the way PyTorch and Keras compute them. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCHEDULE_CONSTANT = 0, SCHEDULE_STEP = 1, SCHEDULE_POLY = 2, SCHEDULE_COSINE = 3 };

/* Past this many epochs (or decays) a rate comes from the closed form instead of PyTorch's
 * epoch-by-epoch recurrence (equal up to rounding; no run is that long). */
#define COSINE_RECURRENCE_MAX 1000000
#define STEP_RECURRENCE_MAX 1000000

static int unknown_schedule(const char *text) {
    return cnn_fail("unknown schedule '%s' (constant, step:EPOCHS:GAMMA, poly:POWER, cosine)", text);
}

/* A whole-string number: "0.1", "1e-3"; no trailing text, no empty field. */
static bool parse_number(const char *s, const char *end, double *out) {
    char buf[64];
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *stop;
    errno = 0;
    *out = strtod(buf, &stop);
    return *stop == 0 && errno == 0 && isfinite(*out) && !(buf[0] == ' ' || buf[0] == '\t');
}

int cnn_schedule_parse(const char *text, cnn_schedule *out) {
    if (!text) return cnn_fail("schedule: text is NULL");
    if (!out) return cnn_fail("schedule: output is NULL");
    cnn_schedule s = {.kind = SCHEDULE_CONSTANT, .step_epochs = 0, .gamma = 1, .power = 1};
    if (strcmp(text, "constant") == 0) {
        s.kind = SCHEDULE_CONSTANT;
    } else if (strcmp(text, "cosine") == 0) {
        s.kind = SCHEDULE_COSINE;
    } else if (strncmp(text, "step:", 5) == 0) {
        const char *second = strchr(text + 5, ':');
        if (!second || !parse_number(text + 5, second, &s.step_epochs) ||
            !parse_number(second + 1, text + strlen(text), &s.gamma))
            return unknown_schedule(text);
        if (!(s.step_epochs >= 1 && s.step_epochs <= 1e9 && s.step_epochs == floor(s.step_epochs)))
            return cnn_fail("schedule '%s': EPOCHS must be a whole number >= 1 (at most 1e9)", text);
        if (!(s.gamma >= 0)) return cnn_fail("schedule '%s': GAMMA must be >= 0", text);
        s.kind = SCHEDULE_STEP;
    } else if (strncmp(text, "poly:", 5) == 0) {
        if (!parse_number(text + 5, text + strlen(text), &s.power)) return unknown_schedule(text);
        if (!(s.power >= 0)) return cnn_fail("schedule '%s': POWER must be >= 0", text);
        s.kind = SCHEDULE_POLY;
    } else {
        return unknown_schedule(text);
    }
    *out = s;
    return 0;
}

/* Python's a % b for b > 0 (never negative). */
static int64_t floor_mod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* torch.optim.lr_scheduler.CosineAnnealingLR(T_max, eta_min=0) as its get_lr() steps it: each
 * epoch's rate is derived from the previous one, which differs from the closed form
 * base * (1 + cos(pi*e/T)) / 2 in the last bits. */
static double cosine_lr(double base, int64_t epoch, int64_t t_max) {
    if (epoch > COSINE_RECURRENCE_MAX) return base * (1.0 + cos(M_PI * (double)epoch / (double)t_max)) / 2.0;
    double lr = base;
    for (int64_t e = 1; e <= epoch; e++) {
        if (floor_mod(e - 1 - t_max, 2 * t_max) == 0)
            lr = lr + base * (1.0 - cos(M_PI / (double)t_max)) / 2.0;
        else
            lr = (1.0 + cos(M_PI * (double)e / (double)t_max)) / (1.0 + cos(M_PI * (double)(e - 1) / (double)t_max)) * lr;
    }
    return lr;
}

double cnn_typed_decimal(float f) {
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if (strtof(text, NULL) == f) return strtod(text, NULL);
    }
    return (double)f; /* NaN */
}

float cnn_schedule_lr(const cnn_schedule *s, float base_lr, int64_t epoch, int64_t total_epochs) {
    if (!s) return base_lr;
    /* PyTorch and Keras compute the schedule in double from the decimal the user typed; so do we,
     * rounding to float once at the end. */
    double base = cnn_typed_decimal(base_lr), lr = base;
    if (epoch < 0) epoch = 0;
    switch (s->kind) {
    case SCHEDULE_STEP: {
        /* StepLR multiplies the previous rate by gamma every step_size epochs. */
        int64_t step = s->step_epochs >= 1 ? (int64_t)s->step_epochs : 1, decays = epoch / step;
        if (decays > STEP_RECURRENCE_MAX) {
            lr = base * pow(s->gamma, (double)decays);
            break;
        }
        for (int64_t k = 0; k < decays; k++) lr = lr * s->gamma;
        break;
    }
    case SCHEDULE_POLY: {
        /* The MiniGoogLeNet recipe: baseLR * (1 - (epoch / float(maxEpochs))) ** power. */
        if (total_epochs <= 0) break;
        double left = 1.0 - (double)epoch / (double)total_epochs;
        lr = base * pow(left > 0.0 ? left : 0.0, s->power);
        break;
    }
    case SCHEDULE_COSINE:
        if (total_epochs > 0) lr = cosine_lr(base, epoch, total_epochs);
        break;
    default:
        break;
    }
    return (float)lr;
}
