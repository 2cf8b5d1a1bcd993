/* threads.c: POSIX threads as glibc offers them, and what the kernel does
 * for them: mutexes (normal, recursive, error-checking, timed), condition
 * variables (signal, broadcast, timeouts on both clocks), barriers,
 * read-write locks, thread-local storage and thread-specific data with
 * destructors, join, tryjoin and detach, cancellation (deferred at
 * cancellation points, asynchronous, disabled, with cleanup handlers),
 * semaphores, many threads contending for one mutex, a bounded buffer
 * between producers and consumers, thread identities, fork from a thread,
 * process-shared mutexes, condition variables and semaphores, how exit,
 * the exit system call and pthread_exit of the main thread end threads and
 * processes, signals sent to one thread or to the process, execve from a
 * thread, CPU affinity, per-thread CPU clocks and nanosleep beside a
 * running thread.
 *
 * The program re-executes itself: with the arguments "exit CODE PID TASKS"
 * (after an execve from a thread) it exits with CODE if it runs as process
 * PID with its tid equal to its pid and /proc/self/task counts TASKS
 * entries, as at the start of the program that made the execve; with 99
 * otherwise. Children report only through exit statuses; only the parent
 * prints. Events are ordered by handshakes, not sleeps; where a check needs
 * time to pass (a timeout, a signal that must not arrive), it waits 50 ms
 * or more. /proc/self/task is compared with its count at the start, not
 * with 1: qemu-user, the reference, runs a thread of its own in every
 * process. */
#define _GNU_SOURCE
#include "check.h"
#include "timing.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a handshake may take before the check fails instead. */
#define PATIENCE_MS 10000

/* The program's own path (readlink of /proc/self/exe). */
static char self_path[PATH_MAX];
/* How many entries /proc/self/task had at the start, with one thread
 * (more than one where the system adds threads of its own, as qemu-user
 * does). */
static int start_tasks;

/* --- Helpers --- */

/* Waits until *VALUE >= WANT, up to PATIENCE_MS; returns whether it got there. */
static int wait_for(atomic_int *value, int want)
{
    long long start = now_ns(CLOCK_MONOTONIC);
    while (atomic_load(value) < want) {
        if (ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            return 0;
        sleep_ms(1);
    }
    return 1;
}

/* Joins THREAD if it ends within PATIENCE_MS; returns 0 or ETIMEDOUT (the
 * thread is then still running). */
static int join_within(pthread_t thread, void **result)
{
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    return pthread_timedjoin_np(thread, result, &deadline);
}

/* How many threads /proc/self/task lists, or -1. */
static int count_tasks(void)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count;
}

/* --- Mutexes --- */

/* A thread that locks a mutex, says so, and unlocks it when told. */
struct holder {
    pthread_mutex_t *mutex;
    sem_t locked, release;
    int lock_result;
};

static void *hold_mutex(void *arg)
{
    struct holder *h = arg;
    h->lock_result = pthread_mutex_lock(h->mutex);
    sem_post(&h->locked);
    sem_wait(&h->release);
    if (h->lock_result == 0)
        pthread_mutex_unlock(h->mutex);
    return NULL;
}

static void start_holder(struct holder *h, pthread_mutex_t *mutex, pthread_t *thread)
{
    h->mutex = mutex;
    sem_init(&h->locked, 0, 0);
    sem_init(&h->release, 0, 0);
    pthread_create(thread, NULL, hold_mutex, h);
    sem_wait(&h->locked);
}

static void stop_holder(struct holder *h, pthread_t thread)
{
    sem_post(&h->release);
    pthread_join(thread, NULL);
    sem_destroy(&h->locked);
    sem_destroy(&h->release);
}

static void *trylock_thread(void *arg)
{
    pthread_mutex_t *mutex = arg;
    int r = pthread_mutex_trylock(mutex);
    if (r == 0)
        pthread_mutex_unlock(mutex);
    return (void *)(intptr_t)r;
}

/* pthread_mutex_trylock of MUTEX from another thread. */
static int trylock_elsewhere(pthread_mutex_t *mutex)
{
    pthread_t t;
    void *r = (void *)(intptr_t)-1;
    pthread_create(&t, NULL, trylock_thread, mutex);
    pthread_join(t, &r);
    return (int)(intptr_t)r;
}

static void init_mutex(pthread_mutex_t *mutex, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, type);
    pthread_mutex_init(mutex, &attr);
    pthread_mutexattr_destroy(&attr);
}

static void check_mutexes(void)
{
    pthread_mutex_t m;
    pthread_t t;
    struct holder h;

    init_mutex(&m, PTHREAD_MUTEX_NORMAL);
    int a = pthread_mutex_lock(&m), b = pthread_mutex_unlock(&m);
    check(a == 0 && b == 0, "a normal mutex locks and unlocks", "lock %d, unlock %d", a, b);
    start_holder(&h, &m, &t);
    int r = pthread_mutex_trylock(&m);
    check(h.lock_result == 0 && r == EBUSY, "trylock of a mutex another thread holds gives EBUSY", "got %s",
          errno_name(r));
    long long start = now_ns(CLOCK_REALTIME);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, 50);
    r = pthread_mutex_timedlock(&m, &deadline);
    check(r == ETIMEDOUT && ms_since(CLOCK_REALTIME, start) >= 50,
          "timedlock of a held mutex gives ETIMEDOUT at its CLOCK_REALTIME deadline", "got %s", errno_name(r));
    start = now_ns(CLOCK_MONOTONIC);
    deadline = deadline_in(CLOCK_MONOTONIC, 50);
    r = pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &deadline);
    check(r == ETIMEDOUT && ms_since(CLOCK_MONOTONIC, start) >= 50,
          "clocklock of a held mutex gives ETIMEDOUT at its CLOCK_MONOTONIC deadline", "got %s", errno_name(r));
    stop_holder(&h, t);
    r = pthread_mutex_trylock(&m);
    check(r == 0, "trylock succeeds once the holder has unlocked", "got %s", errno_name(r));
    pthread_mutex_unlock(&m);
    pthread_mutex_destroy(&m);

    init_mutex(&m, PTHREAD_MUTEX_ERRORCHECK);
    a = pthread_mutex_lock(&m);
    b = pthread_mutex_lock(&m);
    check(a == 0 && b == EDEADLK, "locking an error-checking mutex twice gives EDEADLK", "got %s", errno_name(b));
    a = pthread_mutex_unlock(&m);
    b = pthread_mutex_unlock(&m);
    check(a == 0 && b == EPERM, "unlocking an unlocked error-checking mutex gives EPERM", "got %s", errno_name(b));
    start_holder(&h, &m, &t);
    r = pthread_mutex_unlock(&m);
    check(r == EPERM, "unlocking an error-checking mutex another thread holds gives EPERM", "got %s",
          errno_name(r));
    stop_holder(&h, t);
    pthread_mutex_destroy(&m);

    init_mutex(&m, PTHREAD_MUTEX_RECURSIVE);
    int results = 0;
    for (int i = 0; i < 3; i++)
        results |= pthread_mutex_lock(&m);
    results |= pthread_mutex_trylock(&m);
    check(results == 0, "a recursive mutex can be locked again by its owner", "got %s", errno_name(results));
    r = trylock_elsewhere(&m);
    check(r == EBUSY, "another thread's trylock of a held recursive mutex gives EBUSY", "got %s", errno_name(r));
    results = 0;
    for (int i = 0; i < 3; i++)
        results |= pthread_mutex_unlock(&m);
    r = trylock_elsewhere(&m);
    check(results == 0 && r == EBUSY, "a recursive mutex stays held until the last unlock", "got %s",
          errno_name(r));
    a = pthread_mutex_unlock(&m);
    b = pthread_mutex_unlock(&m);
    r = trylock_elsewhere(&m);
    check(a == 0 && b == EPERM && r == 0,
          "after as many unlocks as locks it is free, and one more unlock gives EPERM", "unlock %d, %s, trylock %s",
          a, errno_name(b), errno_name(r));
    pthread_mutex_destroy(&m);
}

/* --- Condition variables --- */

struct waiters {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int ready;
    int waiting;
    atomic_int woken;
};

static void *cond_waiter(void *arg)
{
    struct waiters *w = arg;
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    pthread_mutex_lock(&w->mutex);
    w->waiting++;
    int r = 0;
    while (!w->ready && r == 0)
        r = pthread_cond_timedwait(&w->cond, &w->mutex, &deadline);
    if (r == 0 && w->ready)
        atomic_fetch_add(&w->woken, 1);
    pthread_mutex_unlock(&w->mutex);
    return (void *)(intptr_t)r;
}

/* Starts COUNT waiters and returns once all of them wait on the condition
 * (each counts itself under the mutex, which the wait releases). */
static int start_waiters(struct waiters *w, pthread_t *threads, int count)
{
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->ready = 0;
    w->waiting = 0;
    atomic_store(&w->woken, 0);
    for (int i = 0; i < count; i++)
        pthread_create(&threads[i], NULL, cond_waiter, w);
    long long start = now_ns(CLOCK_MONOTONIC);
    for (;;) {
        pthread_mutex_lock(&w->mutex);
        int waiting = w->waiting;
        pthread_mutex_unlock(&w->mutex);
        if (waiting == count)
            return 1;
        if (ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            return 0;
        sleep_ms(1);
    }
}

/* Joins the waiters; returns how many returned 0. */
static int join_waiters(pthread_t *threads, int count)
{
    int zero = 0;
    for (int i = 0; i < count; i++) {
        void *r = NULL;
        pthread_join(threads[i], &r);
        zero += r == NULL;
    }
    return zero;
}

static void check_condvars(void)
{
    struct waiters w;
    pthread_t threads[5];

    int started = start_waiters(&w, threads, 1);
    pthread_mutex_lock(&w.mutex);
    w.ready = 1;
    pthread_cond_signal(&w.cond);
    pthread_mutex_unlock(&w.mutex);
    int zero = join_waiters(threads, 1);
    check(started && zero == 1 && atomic_load(&w.woken) == 1, "pthread_cond_signal wakes a waiting thread",
          "started %d, %d returned 0", started, zero);

    started = start_waiters(&w, threads, 5);
    pthread_mutex_lock(&w.mutex);
    w.ready = 1;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.mutex);
    zero = join_waiters(threads, 5);
    check(started && zero == 5 && atomic_load(&w.woken) == 5, "pthread_cond_broadcast wakes all five waiters",
          "started %d, %d returned 0, %d woken", started, zero, atomic_load(&w.woken));

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    int set = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    clockid_t clock = CLOCK_REALTIME;
    pthread_condattr_getclock(&attr, &clock);
    check(set == 0 && clock == CLOCK_MONOTONIC, "pthread_condattr_setclock takes CLOCK_MONOTONIC", "got %d",
          set);
    pthread_cond_t mono;
    pthread_cond_init(&mono, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&m);
    long long start = now_ns(CLOCK_MONOTONIC);
    struct timespec deadline = deadline_in(CLOCK_MONOTONIC, 50);
    int r = pthread_cond_timedwait(&mono, &m, &deadline);
    check(r == ETIMEDOUT && ms_since(CLOCK_MONOTONIC, start) >= 50,
          "timedwait on a CLOCK_MONOTONIC condition gives ETIMEDOUT at its deadline", "got %s", errno_name(r));
    pthread_cond_destroy(&mono);

    pthread_cond_t real = PTHREAD_COND_INITIALIZER;
    start = now_ns(CLOCK_REALTIME);
    deadline = deadline_in(CLOCK_REALTIME, 50);
    r = pthread_cond_timedwait(&real, &m, &deadline);
    check(r == ETIMEDOUT && ms_since(CLOCK_REALTIME, start) >= 50,
          "timedwait on a default condition gives ETIMEDOUT at its CLOCK_REALTIME deadline", "got %s",
          errno_name(r));
    start = now_ns(CLOCK_MONOTONIC);
    deadline = deadline_in(CLOCK_MONOTONIC, 50);
    r = pthread_cond_clockwait(&real, &m, CLOCK_MONOTONIC, &deadline);
    check(r == ETIMEDOUT && ms_since(CLOCK_MONOTONIC, start) >= 50,
          "pthread_cond_clockwait on CLOCK_MONOTONIC gives ETIMEDOUT at its deadline", "got %s", errno_name(r));
    pthread_mutex_unlock(&m);
}

/* --- Barriers --- */

#define BARRIER_THREADS 8
#define BARRIER_ROUNDS 50

static pthread_barrier_t rounds_barrier;
static atomic_int barrier_slots[BARRIER_THREADS];
static atomic_int barrier_serials, barrier_mismatches, barrier_odd_returns;

static void *barrier_thread(void *arg)
{
    int index = (int)(intptr_t)arg;
    for (int round = 1; round <= BARRIER_ROUNDS; round++) {
        atomic_store(&barrier_slots[index], round);
        int r = pthread_barrier_wait(&rounds_barrier);
        if (r == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&barrier_serials, 1);
        else if (r != 0)
            atomic_fetch_add(&barrier_odd_returns, 1);
        for (int i = 0; i < BARRIER_THREADS; i++)
            if (atomic_load(&barrier_slots[i]) != round)
                atomic_fetch_add(&barrier_mismatches, 1);
        r = pthread_barrier_wait(&rounds_barrier);
        if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&barrier_odd_returns, 1);
    }
    return NULL;
}

static void check_barriers(void)
{
    pthread_barrier_init(&rounds_barrier, NULL, BARRIER_THREADS);
    pthread_t threads[BARRIER_THREADS];
    for (int i = 0; i < BARRIER_THREADS; i++)
        pthread_create(&threads[i], NULL, barrier_thread, (void *)(intptr_t)i);
    for (int i = 0; i < BARRIER_THREADS; i++)
        pthread_join(threads[i], NULL);
    check(atomic_load(&barrier_mismatches) == 0 && atomic_load(&barrier_odd_returns) == 0,
          "no thread passes a barrier before all eight have reached it, in 50 rounds", "%d mismatches, %d errors",
          atomic_load(&barrier_mismatches), atomic_load(&barrier_odd_returns));
    expect_eq(atomic_load(&barrier_serials), BARRIER_ROUNDS,
              "one thread per round gets PTHREAD_BARRIER_SERIAL_THREAD");
    pthread_barrier_destroy(&rounds_barrier);
}

/* --- Read-write locks --- */

#define READERS 4

struct readers {
    pthread_rwlock_t lock;
    atomic_int inside, saw_all;
    sem_t in, out;
};

static void *reader_thread(void *arg)
{
    struct readers *r = arg;
    if (pthread_rwlock_rdlock(&r->lock) != 0)
        return NULL;
    atomic_fetch_add(&r->inside, 1);
    if (wait_for(&r->inside, READERS))
        atomic_fetch_add(&r->saw_all, 1);
    sem_post(&r->in);
    sem_wait(&r->out);
    pthread_rwlock_unlock(&r->lock);
    return NULL;
}

static void *try_while_written(void *arg)
{
    pthread_rwlock_t *lock = arg;
    int rd = pthread_rwlock_tryrdlock(lock), wr = pthread_rwlock_trywrlock(lock);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, 50);
    int timed = pthread_rwlock_timedrdlock(lock, &deadline);
    return (void *)(intptr_t)(rd == EBUSY && wr == EBUSY && timed == ETIMEDOUT);
}

static pthread_rwlock_t data_lock = PTHREAD_RWLOCK_INITIALIZER;
static volatile long data_a, data_b;
static atomic_int torn_reads;

static void *rw_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_wrlock(&data_lock);
        data_a = data_a + 1;
        if (i % 64 == 0)
            sched_yield();
        data_b = data_b + 1;
        pthread_rwlock_unlock(&data_lock);
    }
    return NULL;
}

static void *rw_reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_rwlock_rdlock(&data_lock);
        if (data_a != data_b)
            atomic_fetch_add(&torn_reads, 1);
        pthread_rwlock_unlock(&data_lock);
    }
    return NULL;
}

static void check_rwlocks(void)
{
    struct readers r;
    pthread_rwlock_init(&r.lock, NULL);
    atomic_store(&r.inside, 0);
    atomic_store(&r.saw_all, 0);
    sem_init(&r.in, 0, 0);
    sem_init(&r.out, 0, 0);
    pthread_t threads[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&threads[i], NULL, reader_thread, &r);
    for (int i = 0; i < READERS; i++)
        sem_wait(&r.in);
    expect_eq(atomic_load(&r.saw_all), READERS, "four readers hold a read-write lock at once");
    int wr = pthread_rwlock_trywrlock(&r.lock);
    check(wr == EBUSY, "trywrlock while readers hold the lock gives EBUSY", "got %s", errno_name(wr));
    struct timespec deadline = deadline_in(CLOCK_REALTIME, 50);
    wr = pthread_rwlock_timedwrlock(&r.lock, &deadline);
    check(wr == ETIMEDOUT, "timedwrlock while readers hold the lock gives ETIMEDOUT", "got %s", errno_name(wr));
    int rd = pthread_rwlock_tryrdlock(&r.lock);
    check(rd == 0, "another reader can join them with tryrdlock", "got %s", errno_name(rd));
    if (rd == 0)
        pthread_rwlock_unlock(&r.lock);
    for (int i = 0; i < READERS; i++)
        sem_post(&r.out);
    for (int i = 0; i < READERS; i++)
        pthread_join(threads[i], NULL);

    pthread_rwlock_wrlock(&r.lock);
    pthread_t t;
    void *result = NULL;
    pthread_create(&t, NULL, try_while_written, &r.lock);
    pthread_join(t, &result);
    check(result != NULL, "while a writer holds it, tryrdlock and trywrlock give EBUSY and timedrdlock ETIMEDOUT",
          "another thread got in");
    pthread_rwlock_unlock(&r.lock);
    pthread_rwlock_destroy(&r.lock);
    sem_destroy(&r.in);
    sem_destroy(&r.out);

    pthread_t writers[4], readers[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&writers[i], NULL, rw_writer, NULL);
        pthread_create(&readers[i], NULL, rw_reader, NULL);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(writers[i], NULL);
        pthread_join(readers[i], NULL);
    }
    check(atomic_load(&torn_reads) == 0 && data_a == 8000 && data_b == 8000,
          "four writers and four readers: no reader sees a half-done write, and no write is lost",
          "%d torn reads, totals %ld and %ld", atomic_load(&torn_reads), data_a, data_b);
}

/* --- Thread-local storage and thread-specific data --- */

#define TLS_THREADS 8

static __thread int tls_number = 17;
static __thread char tls_name[16] = "initial";
static __thread long tls_zero;

static pthread_barrier_t tls_barrier;
static uintptr_t tls_addresses[TLS_THREADS];
static atomic_int tls_fresh, tls_kept;

static void *tls_thread(void *arg)
{
    int index = (int)(intptr_t)arg;
    if (tls_number == 17 && strcmp(tls_name, "initial") == 0 && tls_zero == 0)
        atomic_fetch_add(&tls_fresh, 1);
    tls_number = 1000 + index;
    snprintf(tls_name, sizeof tls_name, "thread %d", index);
    tls_zero = index;
    tls_addresses[index] = (uintptr_t)&tls_number;
    pthread_barrier_wait(&tls_barrier);
    char want[16];
    snprintf(want, sizeof want, "thread %d", index);
    if (tls_number == 1000 + index && strcmp(tls_name, want) == 0 && tls_zero == index)
        atomic_fetch_add(&tls_kept, 1);
    pthread_barrier_wait(&tls_barrier);
    return NULL;
}

static pthread_key_t data_key;
static atomic_int destructor_calls, destructor_sum;
static atomic_int specific_seen;
static int specific_values[TLS_THREADS];

static void destroy_specific(void *value)
{
    atomic_fetch_add(&destructor_calls, 1);
    atomic_fetch_add(&destructor_sum, *(int *)value);
}

static void *specific_thread(void *arg)
{
    int index = (int)(intptr_t)arg;
    if (pthread_getspecific(data_key) != NULL)
        return NULL;
    if (index < TLS_THREADS) {
        specific_values[index] = index + 1;
        pthread_setspecific(data_key, &specific_values[index]);
        sched_yield();
        if (pthread_getspecific(data_key) == &specific_values[index])
            atomic_fetch_add(&specific_seen, 1);
    }
    return NULL;
}

static void check_thread_local(void)
{
    tls_number = 99;
    pthread_barrier_init(&tls_barrier, NULL, TLS_THREADS);
    pthread_t threads[TLS_THREADS + 2];
    for (int i = 0; i < TLS_THREADS; i++)
        pthread_create(&threads[i], NULL, tls_thread, (void *)(intptr_t)i);
    for (int i = 0; i < TLS_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&tls_barrier);
    expect_eq(atomic_load(&tls_fresh), TLS_THREADS,
              "each new thread starts with the initial values of the __thread variables");
    expect_eq(atomic_load(&tls_kept), TLS_THREADS,
              "each thread keeps its own values of the __thread variables while the others change theirs");
    int distinct = 1;
    for (int i = 0; i < TLS_THREADS; i++)
        for (int j = i + 1; j < TLS_THREADS; j++)
            distinct &= tls_addresses[i] != tls_addresses[j] && tls_addresses[i] != (uintptr_t)&tls_number;
    check(distinct, "each thread's __thread variable is at an address of its own", "two threads shared one");
    check(tls_number == 99 && strcmp(tls_name, "initial") == 0,
          "the main thread's __thread variables are untouched by the other threads", "got %d", tls_number);

    int created = pthread_key_create(&data_key, destroy_specific);
    check(created == 0, "pthread_key_create", "got %s", errno_name(created));
    for (int i = 0; i < TLS_THREADS + 2; i++)
        pthread_create(&threads[i], NULL, specific_thread, (void *)(intptr_t)i);
    for (int i = 0; i < TLS_THREADS + 2; i++)
        pthread_join(threads[i], NULL);
    expect_eq(atomic_load(&specific_seen), TLS_THREADS, "each thread reads back its own pthread_setspecific value");
    check(atomic_load(&destructor_calls) == TLS_THREADS && atomic_load(&destructor_sum) == 36,
          "the key's destructor runs at thread exit once for each thread that set a value",
          "%d calls, sum %d", atomic_load(&destructor_calls), atomic_load(&destructor_sum));
    check(pthread_getspecific(data_key) == NULL, "the main thread's value of the key is still NULL", "it is not");
    int deleted = pthread_key_delete(data_key);
    check(deleted == 0, "pthread_key_delete", "got %s", errno_name(deleted));
}

/* --- Join, detach, stacks --- */

static void *return_square(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return (void *)(i * i + 1);
}

static sem_t parked;

static void *park_thread(void *arg)
{
    (void)arg;
    sem_wait(&parked);
    return (void *)(intptr_t)77;
}

static sem_t detached_done;

static void *detached_thread(void *arg)
{
    (void)arg;
    sem_post(&detached_done);
    return NULL;
}

static void *self_join(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_join(pthread_self(), NULL);
}

static void *stack_probe(void *arg)
{
    volatile char local = 0;
    uintptr_t *range = arg;
    return (void *)(intptr_t)((uintptr_t)&local >= range[0] && (uintptr_t)&local < range[1]);
}

static void check_join_detach(void)
{
    pthread_t threads[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&threads[i], NULL, return_square, (void *)(intptr_t)i);
    int right = 0;
    for (int i = 0; i < 8; i++) {
        void *r = NULL;
        if (pthread_join(threads[i], &r) == 0 && (intptr_t)r == i * i + 1)
            right++;
    }
    expect_eq(right, 8, "pthread_join gives each thread's return value");

    pthread_t t;
    void *r = NULL;
    pthread_create(&t, NULL, self_join, NULL);
    pthread_join(t, &r);
    check((intptr_t)r == EDEADLK, "a thread joining itself gets EDEADLK", "got %s", errno_name((int)(intptr_t)r));

    /* pthread_tryjoin_np says EBUSY until the kernel has cleared the
     * thread's tid word (CLONE_CHILD_CLEARTID), which is what join waits for. */
    sem_init(&parked, 0, 0);
    pthread_create(&t, NULL, park_thread, NULL);
    int busy = pthread_tryjoin_np(t, &r);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, 50);
    int timed = pthread_timedjoin_np(t, &r, &deadline);
    check(busy == EBUSY && timed == ETIMEDOUT,
          "pthread_tryjoin_np gives EBUSY and pthread_timedjoin_np ETIMEDOUT while the thread runs",
          "got %s and %s", errno_name(busy), errno_name(timed));
    sem_post(&parked);
    long long start = now_ns(CLOCK_MONOTONIC);
    int joined;
    r = NULL;
    while ((joined = pthread_tryjoin_np(t, &r)) == EBUSY && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS)
        sleep_ms(1);
    check(joined == 0 && (intptr_t)r == 77, "pthread_tryjoin_np joins once the thread has exited",
          "got %s", errno_name(joined));
    sem_destroy(&parked);

    sem_init(&detached_done, 0, 0);
    int detach_results = 0;
    for (int i = 0; i < 20; i++) {
        pthread_create(&t, NULL, detached_thread, NULL);
        detach_results |= pthread_detach(t);
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 20; i++)
        detach_results |= pthread_create(&t, &attr, detached_thread, NULL);
    pthread_attr_destroy(&attr);
    int ran = 0;
    for (int i = 0; i < 40; i++) {
        deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
        ran += sem_timedwait(&detached_done, &deadline) == 0;
    }
    check(detach_results == 0 && ran == 40, "forty detached threads run (pthread_detach and the attribute)",
          "%d ran, results %d", ran, detach_results);

    /* A small stack, and a stack the program allocates itself. */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_create(&t, &attr, return_square, (void *)(intptr_t)5);
    r = NULL;
    pthread_join(t, &r);
    pthread_attr_destroy(&attr);
    expect_eq((intptr_t)r, 26, "a thread with a 64 KiB stack runs");
    size_t size = 256 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t range[2] = { (uintptr_t)stack, (uintptr_t)stack + size };
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, size);
    r = NULL;
    int made = pthread_create(&t, &attr, stack_probe, range);
    if (made == 0)
        pthread_join(t, &r);
    pthread_attr_destroy(&attr);
    check(made == 0 && r != NULL, "a thread runs on a stack given with pthread_attr_setstack", "created %d",
          made);
    munmap(stack, size);
}

/* --- Cancellation --- */

struct cancellee {
    int fds[2];
    sem_t started;
    atomic_int steps;
    char cleanups[8];
    atomic_int ncleanups;
    volatile long spins;
};

/* The thread being cancelled (one at a time). */
static struct cancellee cancellee;
static sem_t cancel_go;

/* A cleanup handler: notes its tag (a letter) in the order they run. */
static void cleanup_note(void *tag)
{
    int at = atomic_fetch_add(&cancellee.ncleanups, 1);
    if (at < 8)
        cancellee.cleanups[at] = (char)(intptr_t)tag;
}

static void *cancel_in_read(void *arg)
{
    struct cancellee *c = arg;
    pthread_cleanup_push(cleanup_note, (void *)(intptr_t)'A');
    pthread_cleanup_push(cleanup_note, (void *)(intptr_t)'B');
    sem_post(&c->started);
    char byte;
    ssize_t n = read(c->fds[0], &byte, 1);
    atomic_store(&c->steps, n == 1 ? 1 : 2);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *cancel_in_sleep(void *arg)
{
    struct cancellee *c = arg;
    sem_post(&c->started);
    sleep(20);
    atomic_store(&c->steps, 1);
    return NULL;
}

static void *cancel_disabled(void *arg)
{
    struct cancellee *c = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    sem_post(&c->started);
    sem_wait(&cancel_go); /* a cancellation point, but cancellation is disabled */
    atomic_store(&c->steps, 1);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    atomic_store(&c->steps, 2);
    pthread_testcancel();
    atomic_store(&c->steps, 3);
    return NULL;
}

static void *cancel_spinning(void *arg)
{
    struct cancellee *c = arg;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    sem_post(&c->started);
    long long start = now_ns(CLOCK_MONOTONIC);
    while (c->spins >= 0) {
        c->spins = c->spins + 1;
        if ((c->spins & 0xfffff) == 0 && ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            break;
    }
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
    atomic_store(&c->steps, 1);
    return NULL;
}

static void init_cancellee(void)
{
    struct cancellee *c = &cancellee;
    memset(c, 0, sizeof *c);
    pipe(c->fds);
    sem_init(&c->started, 0, 0);
}

static void close_cancellee(void)
{
    close(cancellee.fds[0]);
    close(cancellee.fds[1]);
    sem_destroy(&cancellee.started);
}

/* Runs FN in a thread, cancels it once it has started, calls BETWEEN (if
 * set) and joins the thread; returns whether join gave PTHREAD_CANCELED.
 * A thread that does not end is let go. */
static int cancel_run(void *(*fn)(void *), void (*between)(void))
{
    struct cancellee *c = &cancellee;
    pthread_t t;
    pthread_create(&t, NULL, fn, c);
    sem_wait(&c->started);
    int cancelled = pthread_cancel(t);
    if (between)
        between();
    void *r = NULL;
    if (join_within(t, &r) != 0) {
        write(c->fds[1], "x", 1);
        sem_post(&cancel_go);
        c->spins = -1;
        pthread_join(t, &r);
    }
    return cancelled == 0 && r == PTHREAD_CANCELED;
}

static void after_cancel_disabled(void)
{
    sleep_ms(50);
    sem_post(&cancel_go);
}

static void check_cancel(void)
{
    struct cancellee *c = &cancellee;
    sem_init(&cancel_go, 0, 0);

    init_cancellee();
    int cancelled = cancel_run(cancel_in_read, NULL);
    check(cancelled && atomic_load(&c->steps) == 0,
          "a thread cancelled while blocked in read on a pipe ends with PTHREAD_CANCELED", "join %d, steps %d",
          cancelled, atomic_load(&c->steps));
    check(atomic_load(&c->ncleanups) == 2 && c->cleanups[0] == 'B' && c->cleanups[1] == 'A',
          "its two cleanup handlers run, the last pushed first", "%d ran", atomic_load(&c->ncleanups));
    close_cancellee();

    init_cancellee();
    long long start = now_ns(CLOCK_MONOTONIC);
    cancelled = cancel_run(cancel_in_sleep, NULL);
    check(cancelled && atomic_load(&c->steps) == 0 && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS,
          "a thread cancelled in sleep ends with PTHREAD_CANCELED", "join %d, steps %d", cancelled,
          atomic_load(&c->steps));
    close_cancellee();

    init_cancellee();
    cancelled = cancel_run(cancel_disabled, after_cancel_disabled);
    check(cancelled && atomic_load(&c->steps) == 2,
          "with cancellation disabled a thread runs on; enabled, pthread_testcancel acts on the pending cancel",
          "join %d, steps %d", cancelled, atomic_load(&c->steps));
    close_cancellee();

    init_cancellee();
    cancelled = cancel_run(cancel_spinning, NULL);
    check(cancelled && atomic_load(&c->steps) == 0,
          "asynchronous cancellation ends a thread that spins without system calls", "join %d, steps %d", cancelled,
          atomic_load(&c->steps));
    close_cancellee();
    sem_destroy(&cancel_go);
}

/* --- Semaphores --- */

struct pingpong {
    sem_t ping, pong;
    int rounds;
};

static void *pong_thread(void *arg)
{
    struct pingpong *p = arg;
    int done = 0;
    for (int i = 0; i < p->rounds; i++) {
        struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
        if (sem_timedwait(&p->ping, &deadline) != 0)
            break;
        sem_post(&p->pong);
        done++;
    }
    return (void *)(intptr_t)done;
}

static atomic_int sem_waiter_started;

static void *sem_waiter(void *arg)
{
    sem_t *s = arg;
    atomic_store(&sem_waiter_started, 1);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    return (void *)(intptr_t)(sem_timedwait(s, &deadline) == 0);
}

static void check_semaphores(void)
{
    sem_t s;
    int made = sem_init(&s, 0, 2);
    int a = sem_trywait(&s), b = sem_trywait(&s);
    check(made == 0 && a == 0 && b == 0, "sem_trywait takes the two units of a semaphore made with 2",
          "init %d, trywait %d %d", made, a, b);
    errno = 0;
    expect_errno(sem_trywait(&s), EAGAIN, "sem_trywait of a zero semaphore gives EAGAIN");
    long long start = now_ns(CLOCK_REALTIME);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, 50);
    int r = sem_timedwait(&s, &deadline);
    int err = errno;
    check(r == -1 && err == ETIMEDOUT && ms_since(CLOCK_REALTIME, start) >= 50,
          "sem_timedwait of a zero semaphore gives ETIMEDOUT at its deadline", "got %d, %s", r, errno_name(err));
    start = now_ns(CLOCK_MONOTONIC);
    deadline = deadline_in(CLOCK_MONOTONIC, 50);
    r = sem_clockwait(&s, CLOCK_MONOTONIC, &deadline);
    err = errno;
    check(r == -1 && err == ETIMEDOUT && ms_since(CLOCK_MONOTONIC, start) >= 50,
          "sem_clockwait on CLOCK_MONOTONIC gives ETIMEDOUT at its deadline", "got %d, %s", r, errno_name(err));

    /* A waiter that is surely blocked (50 ms after it started) is woken by sem_post. */
    pthread_t t;
    atomic_store(&sem_waiter_started, 0);
    pthread_create(&t, NULL, sem_waiter, &s);
    wait_for(&sem_waiter_started, 1);
    sleep_ms(50);
    sem_post(&s);
    void *woke = NULL;
    pthread_join(t, &woke);
    int value = -1;
    sem_getvalue(&s, &value);
    check(woke != NULL && value == 0, "sem_post wakes a thread blocked in sem_wait", "woke %d, value %d",
          woke != NULL, value);
    sem_destroy(&s);

    struct pingpong p;
    sem_init(&p.ping, 0, 0);
    sem_init(&p.pong, 0, 0);
    p.rounds = 2000;
    pthread_create(&t, NULL, pong_thread, &p);
    int rounds = 0;
    for (int i = 0; i < p.rounds; i++) {
        sem_post(&p.ping);
        deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
        if (sem_timedwait(&p.pong, &deadline) != 0)
            break;
        rounds++;
    }
    void *done = NULL;
    pthread_join(t, &done);
    int ping = -1, pong = -1;
    sem_getvalue(&p.ping, &ping);
    sem_getvalue(&p.pong, &pong);
    check(rounds == 2000 && (intptr_t)done == 2000 && ping == 0 && pong == 0,
          "2000 round trips between two threads over two semaphores", "%d and %d rounds", rounds,
          (int)(intptr_t)done);
    sem_destroy(&p.ping);
    sem_destroy(&p.pong);
}

/* --- Contention and a bounded buffer --- */

#define CONTENDERS 64
#define INCREMENTS 2000

static pthread_mutex_t counter_mutex = PTHREAD_MUTEX_INITIALIZER;
static long shared_counter;
static pthread_barrier_t contention_start;

static void *contender(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&contention_start);
    for (int i = 0; i < INCREMENTS; i++) {
        pthread_mutex_lock(&counter_mutex);
        long v = shared_counter;
        if ((i & 255) == 0)
            sched_yield();
        shared_counter = v + 1;
        pthread_mutex_unlock(&counter_mutex);
    }
    return NULL;
}

#define BUFFER_SLOTS 8
#define PRODUCERS 4
#define CONSUMERS 4
#define ITEMS_EACH 5000

struct buffer {
    pthread_mutex_t mutex;
    pthread_cond_t not_full, not_empty;
    long items[BUFFER_SLOTS];
    int head, count, producers_left;
    long consumed, sum;
};

static struct buffer buffer = {
    .mutex = PTHREAD_MUTEX_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .producers_left = PRODUCERS,
};

static void *producer(void *arg)
{
    long base = (long)(intptr_t)arg * 100000;
    for (long k = 1; k <= ITEMS_EACH; k++) {
        pthread_mutex_lock(&buffer.mutex);
        while (buffer.count == BUFFER_SLOTS)
            pthread_cond_wait(&buffer.not_full, &buffer.mutex);
        buffer.items[(buffer.head + buffer.count) % BUFFER_SLOTS] = base + k;
        buffer.count++;
        pthread_cond_signal(&buffer.not_empty);
        pthread_mutex_unlock(&buffer.mutex);
    }
    pthread_mutex_lock(&buffer.mutex);
    if (--buffer.producers_left == 0)
        pthread_cond_broadcast(&buffer.not_empty);
    pthread_mutex_unlock(&buffer.mutex);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&buffer.mutex);
        while (buffer.count == 0 && buffer.producers_left > 0)
            pthread_cond_wait(&buffer.not_empty, &buffer.mutex);
        if (buffer.count == 0) {
            pthread_mutex_unlock(&buffer.mutex);
            return NULL;
        }
        long item = buffer.items[buffer.head];
        buffer.head = (buffer.head + 1) % BUFFER_SLOTS;
        buffer.count--;
        buffer.consumed++;
        buffer.sum += item;
        pthread_cond_signal(&buffer.not_full);
        pthread_mutex_unlock(&buffer.mutex);
    }
}

static void check_contention(void)
{
    pthread_t threads[CONTENDERS];
    pthread_barrier_init(&contention_start, NULL, CONTENDERS);
    int created = 0;
    for (int i = 0; i < CONTENDERS; i++)
        created += pthread_create(&threads[i], NULL, contender, NULL) == 0;
    check(created == CONTENDERS, "64 threads are created", "%d were", created);
    for (int i = 0; i < created; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&contention_start);
    expect_eq(shared_counter, (long)CONTENDERS * INCREMENTS,
              "64 threads each add 2000 to a mutex-protected counter: the total is exact");

    pthread_t producers[PRODUCERS], consumers[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&consumers[i], NULL, consumer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&producers[i], NULL, producer, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(consumers[i], NULL);
    long want_sum = 0;
    for (long p = 1; p <= PRODUCERS; p++)
        want_sum += p * 100000 * ITEMS_EACH + (long)ITEMS_EACH * (ITEMS_EACH + 1) / 2;
    check(buffer.consumed == PRODUCERS * ITEMS_EACH && buffer.sum == want_sum && buffer.count == 0,
          "four producers and four consumers through an 8-slot buffer: every item is consumed once",
          "%ld consumed, sum %ld, expected %ld", buffer.consumed, buffer.sum, want_sum);
}

/* --- Identities --- */

#define ID_THREADS 8

struct identity {
    pid_t tid, pid, ppid;
    pthread_t self;
};

static struct identity identities[ID_THREADS];
static pthread_barrier_t id_barrier;

static void *identity_thread(void *arg)
{
    struct identity *id = arg;
    id->tid = gettid();
    id->pid = getpid();
    id->ppid = getppid();
    id->self = pthread_self();
    pthread_barrier_wait(&id_barrier); /* all alive at once: no tid is reused */
    return NULL;
}

static void check_identities(void)
{
    pthread_barrier_init(&id_barrier, NULL, ID_THREADS + 1);
    pthread_t threads[ID_THREADS];
    for (int i = 0; i < ID_THREADS; i++)
        pthread_create(&threads[i], NULL, identity_thread, &identities[i]);
    pthread_barrier_wait(&id_barrier);
    for (int i = 0; i < ID_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&id_barrier);

    check(gettid() == getpid(), "the main thread's tid is the pid", "it is not");
    int tids_distinct = 1, selves_distinct = 1, same_pid = 1, self_matches = 1;
    for (int i = 0; i < ID_THREADS; i++) {
        tids_distinct &= identities[i].tid != getpid() && identities[i].tid > 0;
        selves_distinct &= !pthread_equal(identities[i].self, pthread_self());
        same_pid &= identities[i].pid == getpid() && identities[i].ppid == getppid();
        self_matches &= pthread_equal(identities[i].self, threads[i]);
        for (int j = i + 1; j < ID_THREADS; j++) {
            tids_distinct &= identities[i].tid != identities[j].tid;
            selves_distinct &= !pthread_equal(identities[i].self, identities[j].self);
        }
    }
    check(tids_distinct, "eight threads have eight distinct tids, none the pid", "two are equal");
    check(selves_distinct && self_matches,
          "pthread_self is distinct per thread and equals what pthread_create returned", "it is not");
    check(same_pid, "getpid and getppid are the same in every thread", "they differ");
}

/* --- fork, exit and execve in threads --- */

static void *child_thread_value(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)gettid();
}

/* In the child of a fork made by a thread: bit 1 if its tid is not its pid,
 * bit 2 if /proc/self/task does not count one thread, bit 4 if it cannot
 * run a thread of its own. */
static int forked_child_report(void)
{
    int bits = 0;
    if (gettid() != getpid())
        bits |= 1;
    if (start_tasks < 1 || count_tasks() != start_tasks)
        bits |= 2;
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, child_thread_value, NULL) != 0 || pthread_join(t, &r) != 0 ||
        (pid_t)(intptr_t)r == getpid() || (intptr_t)r <= 0)
        bits |= 4;
    return bits;
}

static void *fork_from_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        _exit(forked_child_report());
    }
    return (void *)(intptr_t)reap(pid, 2 * PATIENCE_MS);
}

/* Threads that keep running in the parent while another forks. */
static atomic_int keep_busy;

static void *busy_thread(void *arg)
{
    (void)arg;
    while (atomic_load(&keep_busy))
        sched_yield();
    return NULL;
}

static void *exit_whole_process(void *arg)
{
    (void)arg;
    exit(7);
}

static void *exit_only_thread(void *arg)
{
    (void)arg;
    syscall(SYS_exit, 5);
    return NULL;
}

/* Joins the main thread (whose tid word the kernel clears when it ends),
 * then ends the process with 12. */
static void *exit_after_main(void *arg)
{
    pthread_t *main_thread = arg;
    int joined = pthread_join(*main_thread, NULL);
    exit(joined == 0 ? 12 : 13);
}

static void *exec_from_thread(void *arg)
{
    (void)arg;
    char code[] = "42", pid[16], tasks[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(tasks, sizeof tasks, "%d", start_tasks);
    char *argv[] = { "threads", "exit", code, pid, tasks, NULL };
    execv(self_path, argv);
    _exit(98);
}

static void check_fork_exit_exec(void)
{
    atomic_store(&keep_busy, 1);
    pthread_t busy[2], t;
    for (int i = 0; i < 2; i++)
        pthread_create(&busy[i], NULL, busy_thread, NULL);
    pthread_create(&t, NULL, fork_from_thread, NULL);
    void *r = NULL;
    pthread_join(t, &r);
    atomic_store(&keep_busy, 0);
    for (int i = 0; i < 2; i++)
        pthread_join(busy[i], NULL);
    int status = (int)(intptr_t)r;
    int bits = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    check(!(bits & 1), "the child of a fork from a thread has its pid as its tid", "status %#x", status);
    check(!(bits & 2), "the child of a fork from a thread has only one thread", "status %#x", status);
    check(!(bits & 4), "the child of a fork from a thread can run a thread of its own", "status %#x", status);

    pid_t pid = fork();
    if (pid == 0) {
        pthread_create(&t, NULL, exit_whole_process, NULL);
        for (;;)
            pause();
    }
    status = reap(pid, 2 * PATIENCE_MS);
    check(exited_with(status, 7), "exit in a thread ends the whole process with its status", "status %#x", status);

    pid = fork();
    if (pid == 0) {
        pthread_create(&t, NULL, exit_only_thread, NULL);
        pthread_join(t, NULL);
        _exit(33);
    }
    status = reap(pid, 2 * PATIENCE_MS);
    check(exited_with(status, 33), "the exit system call in a thread ends only that thread", "status %#x", status);

    pid = fork();
    if (pid == 0) {
        static pthread_t main_thread;
        main_thread = pthread_self();
        pthread_create(&t, NULL, exit_after_main, &main_thread);
        pthread_exit(NULL);
    }
    status = reap(pid, 2 * PATIENCE_MS);
    check(exited_with(status, 12), "after the main thread calls pthread_exit, another thread joins it and the process lives on",
          "status %#x", status);

    pid = fork();
    if (pid == 0) {
        pthread_create(&t, NULL, exec_from_thread, NULL);
        for (;;)
            pause();
    }
    status = reap(pid, 2 * PATIENCE_MS);
    check(exited_with(status, 42),
          "execve from a thread replaces the whole process, keeping the pid, with one thread left",
          "status %#x", status);
}

/* --- Process-shared synchronisation --- */

struct shared {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    sem_t sem;
    long counter;
    int stage;
};

#define SHARED_INCREMENTS 20000

static int shared_child(struct shared *s)
{
    int bad = 0;
    for (int i = 0; i < SHARED_INCREMENTS; i++) {
        pthread_mutex_lock(&s->mutex);
        s->counter++;
        pthread_mutex_unlock(&s->mutex);
    }
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    pthread_mutex_lock(&s->mutex);
    int r = 0;
    while (s->stage != 1 && r == 0)
        r = pthread_cond_timedwait(&s->cond, &s->mutex, &deadline);
    if (s->stage != 1)
        bad |= 1;
    s->stage = 2;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mutex);
    if (sem_post(&s->sem) != 0)
        bad |= 2;
    return bad;
}

static void check_process_shared(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        check(0, "map shared memory", "failed with %s", errno_name(errno));
        return;
    }
    pthread_mutexattr_t mattr;
    pthread_mutexattr_init(&mattr);
    int a = pthread_mutexattr_setpshared(&mattr, PTHREAD_PROCESS_SHARED);
    int b = pthread_mutex_init(&s->mutex, &mattr);
    pthread_mutexattr_destroy(&mattr);
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    int c = pthread_condattr_setpshared(&cattr, PTHREAD_PROCESS_SHARED);
    int d = pthread_cond_init(&s->cond, &cattr);
    pthread_condattr_destroy(&cattr);
    int e = sem_init(&s->sem, 1, 0);
    check(!a && !b && !c && !d && !e, "a process-shared mutex, condition variable and semaphore in shared memory",
          "results %d %d %d %d %d", a, b, c, d, e);

    pid_t pid = fork();
    if (pid == 0)
        _exit(shared_child(s));
    for (int i = 0; i < SHARED_INCREMENTS; i++) {
        pthread_mutex_lock(&s->mutex);
        s->counter++;
        pthread_mutex_unlock(&s->mutex);
    }
    pthread_mutex_lock(&s->mutex);
    s->stage = 1;
    pthread_cond_broadcast(&s->cond);
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    int r = 0;
    while (s->stage != 2 && r == 0)
        r = pthread_cond_timedwait(&s->cond, &s->mutex, &deadline);
    int stage = s->stage;
    pthread_mutex_unlock(&s->mutex);
    deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    int posted = sem_timedwait(&s->sem, &deadline) == 0;
    int status = reap(pid, 2 * PATIENCE_MS);
    expect_eq(s->counter, 2L * SHARED_INCREMENTS,
              "parent and child each add 20000 under a process-shared mutex: the total is exact");
    check(stage == 2 && exited_with(status, 0),
          "parent and child wake each other through a process-shared condition variable", "stage %d, status %#x",
          stage, status);
    check(posted, "the child's sem_post on a process-shared semaphore wakes the parent", "it did not");
    munmap(s, sizeof *s);
}

/* --- Signals and threads --- */

#define MEMBERS 4

static atomic_int handler_tid, handler_runs;

static void record_handler(int sig)
{
    (void)sig;
    atomic_store(&handler_tid, gettid());
    atomic_fetch_add(&handler_runs, 1);
}

struct member {
    int index;
    pid_t tid;
};

static int member_pipe[2];
static pthread_barrier_t members_ready;
/* The member that unblocks SIGUSR1, which the main thread blocks before
 * creating them all. */
#define UNBLOCKER 3

static void *member_thread(void *arg)
{
    struct member *m = arg;
    m->tid = gettid();
    if (m->index == UNBLOCKER) {
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    }
    pthread_barrier_wait(&members_ready);
    char byte;
    while (read(member_pipe[0], &byte, 1) == -1 && errno == EINTR) {
    }
    return NULL;
}

/* Waits until a handler has run; returns the tid it ran in (0 if none). */
static pid_t handled_in(void)
{
    wait_for(&handler_runs, 1);
    pid_t tid = atomic_load(&handler_tid);
    atomic_store(&handler_runs, 0);
    atomic_store(&handler_tid, 0);
    return tid;
}

static atomic_int spinner_stop;
static atomic_int spinner_tid;

static void *signal_spinner(void *arg)
{
    (void)arg;
    atomic_store(&spinner_tid, gettid());
    volatile long spins = 0;
    long long start = now_ns(CLOCK_MONOTONIC);
    while (!atomic_load(&spinner_stop)) {
        spins = spins + 1;
        if ((spins & 0xfffff) == 0 && ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            break;
    }
    return NULL;
}

static void check_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);

    pipe(member_pipe);
    pthread_barrier_init(&members_ready, NULL, MEMBERS + 1);
    struct member members[MEMBERS];
    pthread_t threads[MEMBERS];
    for (int i = 0; i < MEMBERS; i++) {
        members[i].index = i;
        pthread_create(&threads[i], NULL, member_thread, &members[i]);
    }
    pthread_barrier_wait(&members_ready);

    pthread_kill(threads[2], SIGUSR2);
    pid_t tid = handled_in();
    check(tid == members[2].tid, "pthread_kill runs the handler in the thread it names", "ran in %s",
          tid == 0 ? "none" : "another thread");
    syscall(SYS_tgkill, getpid(), members[1].tid, SIGUSR2);
    tid = handled_in();
    check(tid == members[1].tid, "tgkill runs the handler in the thread it names", "ran in %s",
          tid == 0 ? "none" : "another thread");
    kill(getpid(), SIGUSR1);
    tid = handled_in();
    check(tid == members[UNBLOCKER].tid,
          "a signal sent to the process is handled by the one thread that does not block it", "ran in %s",
          tid == 0 ? "none" : "another thread");
    pthread_kill(threads[0], SIGUSR1);
    sleep_ms(50);
    check(atomic_load(&handler_runs) == 0,
          "a signal sent to a thread that blocks it is not handled by another thread", "it was handled");

    write(member_pipe[1], "xxxx", MEMBERS);
    for (int i = 0; i < MEMBERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&members_ready);
    close(member_pipe[0]);
    close(member_pipe[1]);
    atomic_store(&handler_runs, 0);
    atomic_store(&handler_tid, 0);

    pthread_t spinner;
    atomic_store(&spinner_stop, 0);
    atomic_store(&spinner_tid, 0);
    pthread_create(&spinner, NULL, signal_spinner, NULL);
    wait_for(&spinner_tid, 1);
    pthread_kill(spinner, SIGUSR2);
    tid = handled_in();
    atomic_store(&spinner_stop, 1);
    pthread_join(spinner, NULL);
    check(tid != 0 && tid == atomic_load(&spinner_tid),
          "a signal reaches a thread that spins without system calls", "ran in %s",
          tid == 0 ? "none" : "another thread");

    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

/* --- Scheduling, CPU clocks, sleeping --- */

struct spin_clock {
    atomic_int go, spun, release;
};

static void *spin_for_cpu(void *arg)
{
    struct spin_clock *s = arg;
    wait_for(&s->go, 1);
    long long start = now_ns(CLOCK_THREAD_CPUTIME_ID);
    long long wall = now_ns(CLOCK_MONOTONIC);
    while (now_ns(CLOCK_THREAD_CPUTIME_ID) - start < 100000000LL && ms_since(CLOCK_MONOTONIC, wall) < PATIENCE_MS) {
    }
    atomic_store(&s->spun, 1);
    wait_for(&s->release, 1);
    return NULL;
}

static void *block_on_pipe(void *arg)
{
    int fd = *(int *)arg;
    char byte;
    read(fd, &byte, 1);
    return NULL;
}

static atomic_int main_progress;

struct sleeper {
    long before, after;
    long long slept_ms;
    atomic_int done;
};

/* Sleeps 100 ms with nanosleep, again (up to ten times in all) while the
 * main thread made no progress meanwhile: a busy machine may not run it in
 * one sleep, but a kernel that stops the process for a sleep never does. */
static void *sleep_thread(void *arg)
{
    struct sleeper *s = arg;
    s->slept_ms = LLONG_MAX;
    for (int i = 0; i < 10; i++) {
        s->before = atomic_load(&main_progress);
        long long start = now_ns(CLOCK_MONOTONIC);
        struct timespec ts = { 0, 100000000 };
        int r = nanosleep(&ts, NULL);
        long long slept = r == 0 ? ms_since(CLOCK_MONOTONIC, start) : -1;
        if (slept < s->slept_ms)
            s->slept_ms = slept;
        s->after = atomic_load(&main_progress);
        if (s->after > s->before)
            break;
    }
    atomic_store(&s->done, 1);
    return NULL;
}

static void check_scheduling(void)
{
    cpu_set_t original, only0, got;
    CPU_ZERO(&original);
    int g = sched_getaffinity(0, sizeof original, &original);
    check(g == 0 && CPU_ISSET(0, &original), "sched_getaffinity gives a mask with CPU 0", "got %d", g);
    CPU_ZERO(&only0);
    CPU_SET(0, &only0);
    int s = sched_setaffinity(0, sizeof only0, &only0);
    CPU_ZERO(&got);
    g = sched_getaffinity(0, sizeof got, &got);
    check(s == 0 && g == 0 && CPU_ISSET(0, &got) && CPU_COUNT(&got) == 1,
          "sched_setaffinity to CPU 0 alone is accepted and read back", "set %d, get %d, %d CPUs", s, g,
          CPU_COUNT(&got));
    sched_setaffinity(0, sizeof original, &original);
    expect_eq(sched_yield(), 0, "sched_yield returns 0");

    struct spin_clock sc;
    atomic_store(&sc.go, 0);
    atomic_store(&sc.spun, 0);
    atomic_store(&sc.release, 0);
    int fds[2];
    pipe(fds);
    pthread_t spinner, blocked;
    pthread_create(&spinner, NULL, spin_for_cpu, &sc);
    pthread_create(&blocked, NULL, block_on_pipe, &fds[0]);
    clockid_t spin_clock, blocked_clock, own_clock;
    int a = pthread_getcpuclockid(spinner, &spin_clock);
    int b = pthread_getcpuclockid(blocked, &blocked_clock);
    int c = pthread_getcpuclockid(pthread_self(), &own_clock);
    struct timespec ts;
    check(!a && !b && !c && clock_gettime(spin_clock, &ts) == 0 && clock_gettime(own_clock, &ts) == 0,
          "pthread_getcpuclockid gives clocks clock_gettime can read", "results %d %d %d", a, b, c);
    long long spin0 = now_ns(spin_clock), blocked0 = now_ns(blocked_clock), process0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    atomic_store(&sc.go, 1);
    int spun = wait_for(&sc.spun, 1);
    long long spin_delta = now_ns(spin_clock) - spin0, blocked_delta = now_ns(blocked_clock) - blocked0;
    long long process_delta = now_ns(CLOCK_PROCESS_CPUTIME_ID) - process0;
    atomic_store(&sc.release, 1);
    write(fds[1], "x", 1);
    pthread_join(spinner, NULL);
    pthread_join(blocked, NULL);
    close(fds[0]);
    close(fds[1]);
    check(spun && spin_delta >= 100000000LL, "a thread's CPU clock, read from another thread, advances as it spins",
          "advanced %lld ms", spin_delta / 1000000);
    check(blocked_delta < spin_delta / 2, "a thread blocked in read uses less CPU time than a spinning one",
          "%lld ms against %lld ms", blocked_delta / 1000000, spin_delta / 1000000);
    check(process_delta >= spin_delta, "the process CPU clock counts the spinning thread's time",
          "%lld ms against %lld ms", process_delta / 1000000, spin_delta / 1000000);

    struct sleeper sl;
    memset(&sl, 0, sizeof sl);
    atomic_store(&main_progress, 0);
    pthread_t sleeper;
    pthread_create(&sleeper, NULL, sleep_thread, &sl);
    long long start = now_ns(CLOCK_MONOTONIC);
    while (!atomic_load(&sl.done) && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS) {
        atomic_fetch_add(&main_progress, 1);
        sched_yield();
    }
    pthread_join(sleeper, NULL);
    check(sl.slept_ms >= 100, "nanosleep of 100 ms in a thread sleeps at least that long each time", "slept %lld ms",
          sl.slept_ms);
    check(sl.after > sl.before, "the main thread keeps running while another thread sleeps", "it did not");

    char name[16] = "";
    int set = prctl(PR_SET_NAME, "morsel-main", 0, 0, 0);
    int got_name = pthread_getname_np(pthread_self(), name, sizeof name);
    check(set == 0 && got_name == 0 && strcmp(name, "morsel-main") == 0,
          "a thread's name set with PR_SET_NAME reads back with pthread_getname_np", "got \"%s\"", name);
}

/* --- Job control of a multi-threaded process --- */

static atomic_long *stop_counters;

static void *count_forever(void *arg)
{
    atomic_long *counter = arg;
    for (;;)
        atomic_fetch_add(counter, 1);
    return NULL;
}

/* The sum of the workers' counters. */
static long counted(void)
{
    return atomic_load(&stop_counters[0]) + atomic_load(&stop_counters[1]);
}

/* SIGSTOP stops every thread of a process, not just one: two threads of a
 * child count in shared memory; while the child is stopped the counts stand
 * still, after SIGCONT they move again, and SIGKILL ends it. */
static void check_stop_continue(void)
{
    stop_counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t[2];
        pthread_create(&t[0], NULL, count_forever, &stop_counters[0]);
        pthread_create(&t[1], NULL, count_forever, &stop_counters[1]);
        for (;;)
            pause();
    }
    long long start = now_ns(CLOCK_MONOTONIC);
    while ((atomic_load(&stop_counters[0]) == 0 || atomic_load(&stop_counters[1]) == 0) &&
           ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS)
        sleep_ms(1);
    check(atomic_load(&stop_counters[0]) > 0 && atomic_load(&stop_counters[1]) > 0,
          "both threads of a child count", "counters %ld and %ld", atomic_load(&stop_counters[0]),
          atomic_load(&stop_counters[1]));

    kill(pid, SIGSTOP);
    int status = 0;
    pid_t got = waitpid(pid, &status, WUNTRACED);
    check(got == pid && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP, "waitpid reports the child stopped",
          "got %d, status %#x", (int)got, status);
    long stopped_at = counted();
    sleep_ms(200);
    long later = counted();
    check(later == stopped_at, "no thread of a stopped process runs", "the counters moved by %ld", later - stopped_at);

    kill(pid, SIGCONT);
    got = waitpid(pid, &status, WCONTINUED);
    check(got == pid && WIFCONTINUED(status), "waitpid reports the child continued", "got %d, status %#x", (int)got,
          status);
    long resumed_at = counted();
    start = now_ns(CLOCK_MONOTONIC);
    while ((counted() == resumed_at) && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS)
        sleep_ms(1);
    check(counted() != resumed_at, "after SIGCONT the threads count again", "the counters stood at %ld", resumed_at);

    kill(pid, SIGKILL);
    got = waitpid(pid, &status, 0);
    check(got == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "SIGKILL ends the whole process",
          "got %d, status %#x", (int)got, status);
    munmap(stop_counters, 4096);
}

int main(int argc, char **argv)
{
    if (argc > 4 && strcmp(argv[1], "exit") == 0) {
        int tasks = count_tasks();
        return gettid() == getpid() && getpid() == atoi(argv[3]) && tasks >= 1 && tasks == atoi(argv[4])
                   ? atoi(argv[2])
                   : 99;
    }

    start_tasks = count_tasks();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0)
        self_path[n] = '\0';
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);

    check_mutexes();
    check_condvars();
    check_barriers();
    check_rwlocks();
    check_thread_local();
    check_join_detach();
    check_cancel();
    check_semaphores();
    check_contention();
    check_identities();
    check_fork_exit_exec();
    check_process_shared();
    check_signals();
    check_scheduling();
    check_stop_continue();
    return finish();
}
