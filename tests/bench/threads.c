/* threads.c: thread create+join (thread_create_join: pthread_create of a
 * thread that returns at once, then pthread_join, timed together) and
 * futex ping-pong between two threads (futex_pingpong: the main thread
 * hands a turn to the other with FUTEX_WAKE and sleeps in FUTEX_WAIT until
 * the turn comes back; one round trip per sample). Private futexes, glibc
 * pthreads. Where threads cannot be created, both are "skip" lines. */
#include "bench.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static void *nothing(void *arg)
{
    return arg;
}

static long futex(atomic_int *word, int op, int value)
{
    return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, value, NULL, NULL, 0);
}

/* 0: idle; 1: the partner's turn; 2: the main thread's turn; 3: stop. */
static atomic_int turn;

/* Waits until TURN holds WANTED (returns 1) or STOP (returns 0). */
static int wait_turn(int wanted, int stop)
{
    for (;;) {
        int now = atomic_load(&turn);
        if (now == wanted)
            return 1;
        if (now == stop)
            return 0;
        if (futex(&turn, FUTEX_WAIT, now) != 0 && errno != EAGAIN && errno != EINTR)
            die("FUTEX_WAIT: %s", strerror(errno));
    }
}

static void pass_turn(int to)
{
    atomic_store(&turn, to);
    if (futex(&turn, FUTEX_WAKE, 1) < 0)
        die("FUTEX_WAKE: %s", strerror(errno));
}

static void *partner(void *arg)
{
    while (wait_turn(1, 3))
        pass_turn(2);
    return arg;
}

static int create_join(void)
{
    struct loop l = loop_new(1000, 50, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    while (loop_more(&l)) {
        pthread_t thread;
        uint64_t t0 = now_ns();
        int err = pthread_create(&thread, NULL, nothing, NULL);
        if (err != 0) {
            skip("thread_create_join", "pthread_create: %s", strerror(err));
            free(s.values);
            return 0;
        }
        if ((err = pthread_join(thread, NULL)) != 0)
            die("pthread_join: %s", strerror(err));
        uint64_t t1 = now_ns();
        if (loop_recording(&l))
            samples_add(&s, us(t0, t1));
    }
    report("thread_create_join", "us", &s);
    return 1;
}

static void ping_pong(void)
{
    pthread_t thread;
    int err = pthread_create(&thread, NULL, partner, NULL);
    if (err != 0) {
        skip("futex_pingpong", "pthread_create: %s", strerror(err));
        return;
    }
    struct loop l = loop_new(2000, 100, 20.0, 3.0);
    struct samples s = samples_new(l.max);
    while (loop_more(&l)) {
        uint64_t t0 = now_ns();
        pass_turn(1);
        wait_turn(2, -1);
        uint64_t t1 = now_ns();
        if (loop_recording(&l))
            samples_add(&s, us(t0, t1));
    }
    pass_turn(3);
    if ((err = pthread_join(thread, NULL)) != 0)
        die("pthread_join: %s", strerror(err));
    report("futex_pingpong", "us", &s);
}

int main(int argc, char **argv)
{
    bench_init(argc, argv);
    create_join();
    ping_pong();
    return 0;
}
