/*
 * pool.h - a pool of worker threads, started once and reused for every
 * parallel step (the rows of a matrix product, ...).
 *
 * Between jobs a worker spins for a few microseconds, then sleeps, so a
 * core shared with another busy process is handed back rather than burnt;
 * when a shared core keeps making a worker late, the jobs run on the
 * caller's thread alone for a while.
 */
#ifndef L32_POOL_H
#define L32_POOL_H

#include <stdint.h>

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
 * returned.  nth is the pool's size, or 1 while the workers keep losing
 * their cores to other processes (then fn runs on the caller's thread
 * alone).  Not reentrant: one job at a time, from one thread. */
void l32_pool_run(struct l32_pool *p, l32_pool_fn fn, void *arg);

/* The same for a job whose calls claim their work from a shared counter
 * until none is left (any one call would do it all): fn runs on the
 * caller's thread and on the workers that join before that call returns,
 * and l32_pool_share returns when every call that started has returned.
 * A worker that comes late (asleep, or its core taken by another
 * process) is not waited for. */
void l32_pool_share(struct l32_pool *p, l32_pool_fn fn, void *arg);

/* Work, in multiply-adds or operations of that cost, below which a job
 * runs on the caller's thread alone: waking the workers and waiting for
 * them (tens of microseconds, far more on a busy machine) would cost more
 * than they save.  The tiny models' products, and small batches of
 * anything, fall under it. */
#define L32_POOL_SPLIT_WORK (1 << 20)

/* The threads a job of about work operations runs on: 1 below
 * L32_POOL_SPLIT_WORK, else the pool's. */
int l32_pool_threads_for(const struct l32_pool *p, int64_t work);
/* l32_pool_run and l32_pool_share for a job of about work operations:
 * split over the threads only when l32_pool_threads_for says so. */
void l32_pool_run_work(struct l32_pool *p, l32_pool_fn fn, void *arg, int64_t work);
void l32_pool_share_work(struct l32_pool *p, l32_pool_fn fn, void *arg, int64_t work);
/* Jobs run so far over more than one thread (for tests). */
long l32_pool_split_jobs(const struct l32_pool *p);

#endif
