/*
 * pool.c - the worker threads.
 *
 * A job is published through a generation counter read as a seqlock: odd
 * while the caller writes the job, even when it is complete.  Workers spin
 * on it briefly, then sleep on a condition variable.  The caller runs share
 * 0 itself, then waits the same way for the workers:
 *   l32_pool_run    for every worker (each has a share of its own);
 *   l32_pool_share  for the workers that joined before the caller's share
 *                   returned (the shares claim work from a common counter,
 *                   so a worker that comes late finds none and need not be
 *                   waited for: a worker whose core another busy process
 *                   holds does not hold up the job).
 *
 * Sleeping and waking pair through seq_cst atomics (a Dekker handshake):
 * the waker publishes, then checks whether anyone sleeps; the sleeper
 * announces itself, then re-checks what it waits for.  One of the two
 * always sees the other, so no wake-up is lost, and a wake-up costs a
 * system call only when someone actually sleeps.
 *
 * A worker can still lose its core in the middle of a share, for a whole
 * time slice.  When that keeps happening, jobs run on the caller's thread
 * alone for a while, then on all threads again.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/l32_base.h"
#include "base/pool.h"

/* How long a thread spins before it sleeps: enough to ride over the short
 * gaps between the steps of one token, short enough that a shared core is
 * not held for long. */
#define SPIN_NS 5000
/* A worker that keeps the caller waiting this long after its own share is
 * done, and more than half as long as that share took, has lost its core
 * (a wake-up takes tens of microseconds; shares of a long job may differ
 * by more). */
#define LATE_NS 300000
/* Late jobs among the last 16 after which jobs run on the caller's
 * thread alone, and for how many jobs (a few tokens of decode). */
#define LATE_MAX 2
#define SOLO_JOBS 512

/* l32_pool_share's state word: the low 32 bits of the job's generation,
 * a closed bit (the caller's share has returned), the workers inside. */
#define ST_TAG(g) ((uint64_t)(uint32_t)(g) << 32)
#define ST_CLOSED ((uint64_t)1 << 31)
#define ST_INSIDE(s) ((s) & 0x7fffffffu)

struct l32_pool {
	int n;
	pthread_t *threads;          /* (n - 1) */
	/* the current job, written while gen is odd */
	_Atomic(l32_pool_fn) fn;
	_Atomic(void *) arg;
	atomic_int share;            /* 1: an l32_pool_share job */
	atomic_ullong gen;           /* +2 per job; odd while one is written */
	atomic_int pending;          /* l32_pool_run: workers still in the job */
	atomic_ullong state;         /* l32_pool_share: ST_* */
	atomic_int sleepers;         /* workers asleep on wake */
	atomic_int waiting;          /* 1 while the caller sleeps on done */
	atomic_int stop;
	unsigned late;               /* one bit per recent job: a worker was late */
	long split;                  /* jobs run over the workers too */
	int solo;                    /* jobs left to run on the caller's thread alone */
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

/* What a spinning thread waits for. */
enum until {
	UNTIL_JOB,       /* gen even and not seen */
	UNTIL_PENDING,   /* pending == 0 */
	UNTIL_EMPTY,     /* no worker inside the share job */
};

static int
ready(struct l32_pool *p, enum until u, uint64_t seen)
{
	uint64_t g;

	switch (u) {
	case UNTIL_JOB:
		g = atomic_load_explicit(&p->gen, memory_order_acquire);
		return g != seen && (g & 1) == 0;
	case UNTIL_PENDING:
		return atomic_load_explicit(&p->pending, memory_order_acquire) == 0;
	default:
		return ST_INSIDE(atomic_load_explicit(&p->state, memory_order_acquire)) == 0;
	}
}

/* Spins until ready; gives up after SPIN_NS and returns 0. */
static int
spin(struct l32_pool *p, enum until u, uint64_t seen)
{
	int64_t t0 = 0;

	for (unsigned i = 0;; i++) {
		if (ready(p, u, seen))
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

/* Waits for a job after generation seen. */
static void
wait_job(struct l32_pool *p, uint64_t seen)
{
	while (!spin(p, UNTIL_JOB, seen)) {
		pthread_mutex_lock(&p->mu);
		atomic_fetch_add(&p->sleepers, 1);
		while (atomic_load(&p->gen) == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		atomic_fetch_sub(&p->sleepers, 1);
		pthread_mutex_unlock(&p->mu);
	}
}

/* The caller sleeps until the workers it waits for are out. */
static void
wait_workers(struct l32_pool *p, enum until u)
{
	if (spin(p, u, 0))
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->waiting, 1);
	while (!ready(p, u, 0))
		pthread_cond_wait(&p->done, &p->mu);
	atomic_store(&p->waiting, 0);
	pthread_mutex_unlock(&p->mu);
}

static void
wake_caller(struct l32_pool *p)
{
	if (atomic_load(&p->waiting)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

/* Joins share job g unless the caller has closed it (or moved on). */
static int
enter_share(struct l32_pool *p, uint64_t g)
{
	uint64_t s = atomic_load(&p->state);

	do {
		if ((s & ~(ST_CLOSED | 0x7fffffffu)) != ST_TAG(g) || (s & ST_CLOSED))
			return 0;
	} while (!atomic_compare_exchange_weak(&p->state, &s, s + 1));
	return 1;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct l32_pool *p = w->p;
	int ith = w->ith;
	uint64_t seen = 0;

	free(w);
	for (;;) {
		uint64_t g;
		l32_pool_fn fn;
		void *farg;
		int share;

		wait_job(p, seen);
		/* a consistent copy of the job, or try again */
		g = atomic_load_explicit(&p->gen, memory_order_acquire);
		fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
		farg = atomic_load_explicit(&p->arg, memory_order_relaxed);
		share = atomic_load_explicit(&p->share, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if ((g & 1) || atomic_load_explicit(&p->gen, memory_order_relaxed) != g)
			continue;
		seen = g;
		if (atomic_load(&p->stop))
			break;
		if (!share) {
			fn(farg, ith, p->n);
			/* the last one out wakes the caller if it sleeps */
			if (atomic_fetch_sub(&p->pending, 1) == 1)
				wake_caller(p);
		} else if (enter_share(p, g)) {
			uint64_t s;

			fn(farg, ith, p->n);
			s = atomic_fetch_sub(&p->state, 1) - 1;
			if ((s & ST_CLOSED) && ST_INSIDE(s) == 0)
				wake_caller(p);
		}
	}
	return NULL;
}

/* Writes a job (gen odd meanwhile), then wakes sleeping workers. */
static void
publish(struct l32_pool *p, l32_pool_fn fn, void *arg, int share)
{
	uint64_t g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;

	atomic_store_explicit(&p->gen, g, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
	atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
	atomic_store_explicit(&p->share, share, memory_order_relaxed);
	if (share)
		atomic_store(&p->state, ST_TAG(g + 1));
	else
		atomic_store(&p->pending, p->n - 1);
	atomic_store(&p->gen, g + 1);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
}

static void
nothing(void *arg, int ith, int nth)
{
	(void)arg;
	(void)ith;
	(void)nth;
}

static void
stop_workers(struct l32_pool *p, int started)
{
	atomic_store(&p->stop, 1);
	publish(p, nothing, NULL, 0);
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

/* Runs the job on the caller's thread alone when there are no workers, or
 * while they keep coming late; returns 1 when it did. */
static int
run_solo(struct l32_pool *p, l32_pool_fn fn, void *arg)
{
	if (p != NULL && p->n > 1 && p->solo == 0)
		return 0;
	if (p != NULL && p->solo > 0)
		p->solo--;
	fn(arg, 0, 1);
	return 1;
}

/* Counts a job whose caller ran its share in own_ns, then waited
 * wait_ns for the workers. */
static void
note_late(struct l32_pool *p, int64_t own_ns, int64_t wait_ns)
{
	int late = wait_ns > LATE_NS && 2 * wait_ns > own_ns;

	p->late = (p->late << 1 | (unsigned)late) & 0xffff;
	if (__builtin_popcount(p->late) >= LATE_MAX) {
		p->late = 0;
		p->solo = SOLO_JOBS;
	}
}

void
l32_pool_run(struct l32_pool *p, l32_pool_fn fn, void *arg)
{
	int64_t t0, t;

	if (run_solo(p, fn, arg))
		return;
	p->split++;
	t0 = now_ns();
	publish(p, fn, arg, 0);
	fn(arg, 0, p->n);
	t = now_ns();
	wait_workers(p, UNTIL_PENDING);
	note_late(p, t - t0, now_ns() - t);
}

void
l32_pool_share(struct l32_pool *p, l32_pool_fn fn, void *arg)
{
	int64_t t0, t;

	if (run_solo(p, fn, arg))
		return;
	p->split++;
	t0 = now_ns();
	publish(p, fn, arg, 1);
	fn(arg, 0, p->n);
	t = now_ns();
	/* no worker joins from now on; wait for those inside */
	atomic_fetch_or(&p->state, ST_CLOSED);
	wait_workers(p, UNTIL_EMPTY);
	note_late(p, t - t0, now_ns() - t);
}

int
l32_pool_threads_for(const struct l32_pool *p, int64_t work)
{
	return work < L32_POOL_SPLIT_WORK ? 1 : l32_pool_threads(p);
}

void
l32_pool_run_work(struct l32_pool *p, l32_pool_fn fn, void *arg, int64_t work)
{
	if (l32_pool_threads_for(p, work) == 1)
		fn(arg, 0, 1);
	else
		l32_pool_run(p, fn, arg);
}

void
l32_pool_share_work(struct l32_pool *p, l32_pool_fn fn, void *arg, int64_t work)
{
	if (l32_pool_threads_for(p, work) == 1)
		fn(arg, 0, 1);
	else
		l32_pool_share(p, fn, arg);
}

long
l32_pool_split_jobs(const struct l32_pool *p)
{
	return p != NULL ? p->split : 0;
}
