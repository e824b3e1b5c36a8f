/*
 * sim_dist.h: latency and size distributions, sampled with GSL from a simulator stream.
 *
 * A distribution is a small tree: a leaf (constant, uniform, exponential, normal, lognormal,
 * Pareto) or a weighted mixture of distributions. Parameters are stored in microseconds; samples
 * are clamped to [min_us, max_us] (defaults 0 and 1 hour) so no draw can schedule an event in the
 * past or overflow time. Every draw comes from the gsl_rng the caller passes, so a distribution
 * holds no random state of its own and can be shared.
 *
 * Ownership: sim_dist_t values are built by sim_dist_parse (from Lua) or by hand; a mixture owns
 * its components and sim_dist_free releases them.
 */
#ifndef SIM_DIST_H
#define SIM_DIST_H

#include <gsl/gsl_rng.h>
#include <stddef.h>

typedef enum sim_dist_kind {
    SIM_DIST_CONSTANT = 0,
    SIM_DIST_UNIFORM,
    SIM_DIST_EXPONENTIAL,
    SIM_DIST_NORMAL,
    SIM_DIST_LOGNORMAL,
    SIM_DIST_PARETO,
    SIM_DIST_MIXTURE,
} sim_dist_kind_t;

typedef struct sim_dist sim_dist_t;

struct sim_dist {
    sim_dist_kind_t kind;
    double p1, p2;           /* constant: value; uniform: lo, hi; exponential: mean;
                                normal: mean, sd; lognormal: median, sigma; pareto: scale, alpha */
    double offset;           /* added to every sample (e.g. a propagation floor) */
    double min, max;         /* clamp */
    size_t count;            /* mixture */
    double *weights;         /* mixture, normalised to sum 1 */
    sim_dist_t *parts;       /* mixture */
};

/* A constant distribution of `value` (same unit as samples). */
sim_dist_t sim_dist_constant(double value);
double sim_dist_sample(const sim_dist_t *d, gsl_rng *rng);
/* The mean of the distribution before clamping (infinite for Pareto alpha <= 1). */
double sim_dist_mean(const sim_dist_t *d);
void sim_dist_free(sim_dist_t *d);
/* Deep copy; returns 0 or -1 on allocation failure. */
int sim_dist_copy(sim_dist_t *dst, const sim_dist_t *src);
/* One-line description, e.g. "lognormal(median=1ms, sigma=0.5)"; `scale` divides values. */
void sim_dist_describe(const sim_dist_t *d, double scale, const char *unit, char *buf,
                       size_t size);

#endif
