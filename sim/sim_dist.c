/* sim_dist.c: sampling through gsl_ran_*; mixtures pick a component by cumulative weight. */
#include "sim/sim_dist.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_US 3600e6

sim_dist_t sim_dist_constant(double value)
{
    return (sim_dist_t){.kind = SIM_DIST_CONSTANT, .p1 = value, .min = 0, .max = HOUR_US};
}

double sim_dist_sample(const sim_dist_t *d, gsl_rng *rng)
{
    double x;
    switch (d->kind) {
    case SIM_DIST_CONSTANT: x = d->p1; break;
    case SIM_DIST_UNIFORM: x = gsl_ran_flat(rng, d->p1, d->p2); break;
    case SIM_DIST_EXPONENTIAL: x = gsl_ran_exponential(rng, d->p1); break;
    case SIM_DIST_NORMAL: x = d->p1 + gsl_ran_gaussian_ziggurat(rng, d->p2); break;
    case SIM_DIST_LOGNORMAL:
        /* median * e^(sigma z): the ziggurat normal avoids a log per draw. */
        x = d->p1 * exp(d->p2 * gsl_ran_gaussian_ziggurat(rng, 1.0));
        break;
    case SIM_DIST_PARETO: x = gsl_ran_pareto(rng, d->p2, d->p1); break;
    case SIM_DIST_MIXTURE: {
        double u = gsl_rng_uniform(rng), acc = 0;
        size_t i = 0;
        for (; i + 1 < d->count; i++) {
            acc += d->weights[i];
            if (u < acc)
                break;
        }
        x = sim_dist_sample(&d->parts[i], rng);
        break;
    }
    default: x = 0; break;
    }
    x += d->offset;
    if (!(x >= d->min))   /* also catches NaN */
        x = d->min;
    if (x > d->max)
        x = d->max;
    return x;
}

double sim_dist_mean(const sim_dist_t *d)
{
    double m = 0;
    switch (d->kind) {
    case SIM_DIST_CONSTANT: m = d->p1; break;
    case SIM_DIST_UNIFORM: m = (d->p1 + d->p2) / 2; break;
    case SIM_DIST_EXPONENTIAL: m = d->p1; break;
    case SIM_DIST_NORMAL: m = d->p1; break;
    case SIM_DIST_LOGNORMAL: m = d->p1 * exp(d->p2 * d->p2 / 2); break;
    case SIM_DIST_PARETO: m = d->p2 > 1 ? d->p2 * d->p1 / (d->p2 - 1) : INFINITY; break;
    case SIM_DIST_MIXTURE:
        for (size_t i = 0; i < d->count; i++)
            m += d->weights[i] * sim_dist_mean(&d->parts[i]);
        break;
    }
    return m + d->offset;
}

void sim_dist_free(sim_dist_t *d)
{
    if (d->kind == SIM_DIST_MIXTURE) {
        for (size_t i = 0; i < d->count; i++)
            sim_dist_free(&d->parts[i]);
        free(d->parts);
        free(d->weights);
    }
    memset(d, 0, sizeof(*d));
}

int sim_dist_copy(sim_dist_t *dst, const sim_dist_t *src)
{
    *dst = *src;
    if (src->kind != SIM_DIST_MIXTURE)
        return 0;
    dst->parts = calloc(src->count, sizeof(sim_dist_t));
    dst->weights = malloc(src->count * sizeof(double));
    if (!dst->parts || !dst->weights) {
        free(dst->parts);
        free(dst->weights);
        dst->kind = SIM_DIST_CONSTANT;
        return -1;
    }
    memcpy(dst->weights, src->weights, src->count * sizeof(double));
    for (size_t i = 0; i < src->count; i++) {
        if (sim_dist_copy(&dst->parts[i], &src->parts[i]) != 0) {
            dst->count = i;
            sim_dist_free(dst);
            return -1;
        }
    }
    return 0;
}

void sim_dist_describe(const sim_dist_t *d, double scale, const char *unit, char *buf,
                       size_t size)
{
    int n = 0;
    switch (d->kind) {
    case SIM_DIST_CONSTANT: n = snprintf(buf, size, "constant(%g%s)", d->p1 / scale, unit); break;
    case SIM_DIST_UNIFORM:
        n = snprintf(buf, size, "uniform(%g%s..%g%s)", d->p1 / scale, unit, d->p2 / scale, unit);
        break;
    case SIM_DIST_EXPONENTIAL:
        n = snprintf(buf, size, "exponential(mean=%g%s)", d->p1 / scale, unit);
        break;
    case SIM_DIST_NORMAL:
        n = snprintf(buf, size, "normal(mean=%g%s, sd=%g%s)", d->p1 / scale, unit,
                     d->p2 / scale, unit);
        break;
    case SIM_DIST_LOGNORMAL:
        n = snprintf(buf, size, "lognormal(median=%g%s, sigma=%g)", d->p1 / scale, unit, d->p2);
        break;
    case SIM_DIST_PARETO:
        n = snprintf(buf, size, "pareto(scale=%g%s, alpha=%g)", d->p1 / scale, unit, d->p2);
        break;
    case SIM_DIST_MIXTURE: {
        n = snprintf(buf, size, "mixture(");
        for (size_t i = 0; i < d->count && n > 0 && (size_t)n < size; i++) {
            n += snprintf(buf + n, size - (size_t)n, "%s%g*", i ? ", " : "", d->weights[i]);
            if ((size_t)n < size) {
                sim_dist_describe(&d->parts[i], scale, unit, buf + n, size - (size_t)n);
                n += (int)strlen(buf + n);
            }
        }
        if (n > 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, ")");
        break;
    }
    }
    if (d->offset != 0 && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "+%g%s", d->offset / scale, unit);
}
