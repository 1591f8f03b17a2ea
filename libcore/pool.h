/*
 * pool.h - a pool of worker threads, started once and reused for every
 * parallel step (the rows of a matrix product, ...).
 *
 * Between jobs a worker spins for a few microseconds, then sleeps, so a
 * core shared with another busy process is handed back rather than burnt:
 * a job waits for a worker's wake-up, never for it to lose a time slice
 * to a spinning sibling.
 */
#ifndef L32_POOL_H
#define L32_POOL_H

struct l32_err;
struct l32_pool;

/* A job: called once on every thread, ith in 0..nth-1 (0 is the caller's
 * thread), each taking its own share of the work. */
typedef void (*l32_pool_fn)(void *arg, int ith, int nth);

/* A pool of n threads in all: the caller's and n - 1 workers.  n == 1
 * starts none and runs jobs inline. */
struct l32_pool *l32_pool_new(int n, struct l32_err *err);
void l32_pool_free(struct l32_pool *p);
int l32_pool_threads(const struct l32_pool *p);

/* Runs fn(arg, ith, nth) on all threads and returns when every call has
 * returned.  Not reentrant: one job at a time, from one thread. */
void l32_pool_run(struct l32_pool *p, l32_pool_fn fn, void *arg);

#endif
