/*
 * pool.c - the worker threads.  A job is published by bumping a
 * generation counter; workers spin on it briefly, then sleep on a
 * condition variable.  The caller runs share 0 itself, then waits the same
 * way for the last worker to finish.
 *
 * Sleeping and waking pair through seq_cst atomics (a Dekker handshake):
 * the waker publishes, then checks whether anyone sleeps; the sleeper
 * announces itself, then re-checks what it waits for.  One of the two
 * always sees the other, so no wake-up is lost, and a wake-up costs a
 * system call only when someone actually sleeps.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l32.h"
#include "pool.h"

/* How long a thread spins before it sleeps: enough to ride over the short
 * gaps between the steps of one token, short enough that a shared core is
 * not held for long. */
#define SPIN_NS 5000

struct l32_pool {
	int n;
	pthread_t *threads;          /* (n - 1) */
	l32_pool_fn fn;              /* the current job */
	void *arg;
	atomic_uint gen;             /* bumped per job */
	atomic_int pending;          /* workers still in the current job */
	atomic_int sleepers;         /* workers asleep on wake */
	atomic_int waiting;          /* 1 while the caller sleeps on done */
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
};

struct worker {
	struct l32_pool *p;
	int ith;
};

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until *a != v (gen) or, for pending, *a == 0; gives up after
 * SPIN_NS and returns 0. */
static int
spin(atomic_uint *gen, unsigned v, atomic_int *pending)
{
	int64_t t0 = 0;

	for (unsigned i = 0;; i++) {
		if (gen != NULL ? atomic_load_explicit(gen, memory_order_acquire) != v :
		    atomic_load_explicit(pending, memory_order_acquire) == 0)
			return 1;
		cpu_relax();
		if ((i & 63) == 63) {
			int64_t t = now_ns();

			if (t0 == 0)
				t0 = t;
			else if (t - t0 > SPIN_NS)
				return 0;
		}
	}
}

/* Waits for a job after generation seen; returns the new generation. */
static unsigned
wait_job(struct l32_pool *p, unsigned seen)
{
	if (!spin(&p->gen, seen, NULL)) {
		pthread_mutex_lock(&p->mu);
		atomic_fetch_add(&p->sleepers, 1);
		while (atomic_load(&p->gen) == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		atomic_fetch_sub(&p->sleepers, 1);
		pthread_mutex_unlock(&p->mu);
	}
	return atomic_load(&p->gen);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct l32_pool *p = w->p;
	int ith = w->ith;
	unsigned seen = 0;

	free(w);
	for (;;) {
		seen = wait_job(p, seen);
		if (atomic_load(&p->stop))
			break;
		p->fn(p->arg, ith, p->n);
		/* the last one out wakes the caller if it sleeps */
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_broadcast(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

/* Publishes a new generation and wakes sleeping workers. */
static void
publish(struct l32_pool *p)
{
	atomic_fetch_add(&p->gen, 1);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
}

static void
stop_workers(struct l32_pool *p, int started)
{
	atomic_store(&p->stop, 1);
	publish(p);
	for (int i = 0; i < started; i++)
		pthread_join(p->threads[i], NULL);
}

struct l32_pool *
l32_pool_new(int n, struct l32_err *err)
{
	struct l32_pool *p;
	sigset_t all, old;
	int started = 0, rc = 0;

	if (n < 1 || n > 1024) {
		l32_err_set(err, L32_ERR_INVALID, "thread pool: %d threads (1..1024)", n);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (n > 1 &&
	    (p->threads = calloc((size_t)n - 1, sizeof(*p->threads))) == NULL)) {
		free(p);
		l32_err_set(err, L32_ERR_NOMEM, "thread pool: out of memory for %d threads", n);
		return NULL;
	}
	p->n = n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	/* workers take no signals: those go to the program's own thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < n - 1; started++) {
		struct worker *w = malloc(sizeof(*w));

		if (w == NULL) {
			rc = ENOMEM;
			break;
		}
		w->p = p;
		w->ith = started + 1;
		rc = pthread_create(&p->threads[started], NULL, worker_main, w);
		if (rc != 0) {
			free(w);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started < n - 1) {
		stop_workers(p, started);
		l32_err_set(err, L32_ERR_NOMEM, "thread pool: cannot start thread %d of %d: %s",
		    started + 1, n, strerror(rc));
		p->n = 1;
		l32_pool_free(p);
		return NULL;
	}
	return p;
}

void
l32_pool_free(struct l32_pool *p)
{
	if (p == NULL)
		return;
	if (p->n > 1)
		stop_workers(p, p->n - 1);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

int
l32_pool_threads(const struct l32_pool *p)
{
	return p != NULL ? p->n : 1;
}

void
l32_pool_run(struct l32_pool *p, l32_pool_fn fn, void *arg)
{
	if (p == NULL || p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	publish(p);
	fn(arg, 0, p->n);
	if (spin(NULL, 0, &p->pending))
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->waiting, 1);
	while (atomic_load(&p->pending) != 0)
		pthread_cond_wait(&p->done, &p->mu);
	atomic_store(&p->waiting, 0);
	pthread_mutex_unlock(&p->mu);
}
