/* futex.c: the futex system call between threads and processes, called
 * directly: FUTEX_WAIT (value check, relative timeouts), FUTEX_WAKE and the
 * counts it returns, FUTEX_REQUEUE and FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP,
 * FUTEX_WAIT_BITSET and FUTEX_WAKE_BITSET (absolute timeouts on both
 * clocks, disjoint bitsets), the errors (EAGAIN, ETIMEDOUT, EINVAL, ENOSYS,
 * EFAULT, EINTR), private and shared futexes (shared ones across fork), the
 * tid words of set_tid_address and clone (CLONE_PARENT_SETTID,
 * CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID, CLONE_SETTLS, with a thread
 * made by a raw clone), and robust lists (set_robust_list,
 * get_robust_list, what the kernel does with the robust futexes of a thread
 * or process that dies, and glibc's robust mutexes on top of that).
 *
 * A waiter is known to be queued on a futex by a handshake, never by a
 * sleep: either the waker repeats FUTEX_WAKE until it returns 1, or the
 * waiter waits on a staging futex and the main thread moves it with
 * FUTEX_REQUEUE (which counts the waiters it moves) to the futex under
 * test. Children report only through exit statuses; only the parent
 * prints. */
#define _GNU_SOURCE
#include "check.h"
#include "timing.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a handshake may take before the check fails instead. */
#define PATIENCE_MS 10000

/* --- Helpers --- */

static long futex(void *uaddr, int op, uint32_t val, const struct timespec *timeout, void *uaddr2, uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

/* The operations whose fourth argument is a number (VAL2), not a timeout. */
static long futex2(void *uaddr, int op, uint32_t val, unsigned long val2, void *uaddr2, uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

/* Repeats FUTEX_WAKE (OP) of one waiter on WORD until it wakes one, up to
 * PATIENCE_MS; returns whether it did. */
static int wake_one_eventually(uint32_t *word, int op)
{
    long long start = now_ns(CLOCK_MONOTONIC);
    do {
        long r = futex(word, op, 1, NULL, NULL, 0);
        if (r == 1)
            return 1;
        if (r != 0)
            return 0;
        sleep_ms(1);
    } while (ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS);
    return 0;
}

/* Moves COUNT waiters from STAGING to TARGET with FUTEX_REQUEUE (OP), as
 * they arrive, up to PATIENCE_MS; returns how many it moved. Once it
 * returns COUNT, they are all queued on TARGET. */
static long gather(uint32_t *staging, uint32_t *target, long count, int op)
{
    long moved = 0;
    long long start = now_ns(CLOCK_MONOTONIC);
    while (moved < count && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS) {
        long r = futex2(staging, op, 0, INT_MAX, target, 0);
        if (r < 0)
            return moved;
        moved += r;
        if (moved < count)
            sleep_ms(1);
    }
    return moved;
}

/* A thread blocked in one futex wait. */
struct waiter {
    uint32_t *word;
    int op;
    uint32_t expected, bitset;
    int timed; /* with a timeout of PATIENCE_MS (so that a lost wake fails, not hangs) */
    pthread_t thread;
    atomic_int tid, done;
    long result;
    int err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->tid, gettid());
    struct timespec ts, *timeout = NULL;
    if (w->timed) {
        if ((w->op & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET)
            ts = deadline_in((w->op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC, PATIENCE_MS);
        else
            ts = (struct timespec){ PATIENCE_MS / 1000, 0 };
        timeout = &ts;
    }
    long r = futex(w->word, w->op, w->expected, timeout, NULL, w->bitset);
    w->err = r == -1 ? errno : 0;
    w->result = r;
    atomic_store(&w->done, 1);
    return NULL;
}

/* Starts a thread that waits on WORD (for its present value) with OP and
 * BITSET, with a timeout of PATIENCE_MS unless UNTIMED. */
static void start_waiter_how(struct waiter *w, uint32_t *word, int op, uint32_t bitset, int untimed)
{
    memset(w, 0, sizeof *w);
    w->word = word;
    w->op = op;
    w->expected = *word;
    w->bitset = bitset;
    w->timed = !untimed;
    pthread_create(&w->thread, NULL, waiter_main, w);
}

static void start_waiter(struct waiter *w, uint32_t *word, int op, uint32_t bitset)
{
    start_waiter_how(w, word, op, bitset, 0);
}

static int count_done(struct waiter *w, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++)
        done += atomic_load(&w[i].done);
    return done;
}

/* Waits until at least WANT of the N waiters are done, up to PATIENCE_MS. */
static int wait_done(struct waiter *w, int n, int want)
{
    long long start = now_ns(CLOCK_MONOTONIC);
    while (count_done(w, n) < want) {
        if (ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            return 0;
        sleep_ms(1);
    }
    return 1;
}

/* Joins N waiters; returns how many returned 0. */
static int join_waiters(struct waiter *w, int n)
{
    int zero = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        zero += w[i].result == 0;
    }
    return zero;
}

/* An address no program has mapped. */
static void *const bad_address = (void *)16;

/* --- Waiting and waking --- */

static void check_wait_errors(void)
{
    static uint32_t word = 1;
    errno = 0;
    expect_errno(futex(&word, FUTEX_WAIT, 0, NULL, NULL, 0), EAGAIN,
                 "FUTEX_WAIT when the word holds another value gives EAGAIN");
    expect_errno(futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EAGAIN,
                 "FUTEX_WAIT_PRIVATE when the word holds another value gives EAGAIN");
    expect_errno(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, FUTEX_BITSET_MATCH_ANY), EAGAIN,
                 "FUTEX_WAIT_BITSET when the word holds another value gives EAGAIN");

    struct timespec ts = { 0, 50000000 };
    long long start = now_ns(CLOCK_MONOTONIC);
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
    int err = errno;
    long long took = ms_since(CLOCK_MONOTONIC, start);
    check(r == -1 && err == ETIMEDOUT && took >= 50 && took < PATIENCE_MS,
          "FUTEX_WAIT with a relative timeout of 50 ms gives ETIMEDOUT after it", "got %ld, %s", r,
          errno_name(err));

    start = now_ns(CLOCK_MONOTONIC);
    ts = deadline_in(CLOCK_MONOTONIC, 50);
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
    err = errno;
    check(r == -1 && err == ETIMEDOUT && ms_since(CLOCK_MONOTONIC, start) >= 50,
          "FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline gives ETIMEDOUT at it", "got %ld, %s", r,
          errno_name(err));
    start = now_ns(CLOCK_REALTIME);
    ts = deadline_in(CLOCK_REALTIME, 50);
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
    err = errno;
    check(r == -1 && err == ETIMEDOUT && ms_since(CLOCK_REALTIME, start) >= 50,
          "FUTEX_WAIT_BITSET with FUTEX_CLOCK_REALTIME and an absolute deadline gives ETIMEDOUT at it",
          "got %ld, %s", r, errno_name(err));

    ts = (struct timespec){ 0, 1000000000 };
    expect_errno(futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0), EINVAL,
                 "FUTEX_WAIT with tv_nsec of a billion gives EINVAL");
    expect_errno(futex(&word, FUTEX_WAIT_PRIVATE, 1, bad_address, NULL, 0), EFAULT,
                 "FUTEX_WAIT with an unmapped timeout gives EFAULT");
    expect_errno(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 0), EINVAL,
                 "FUTEX_WAIT_BITSET with bitset 0 gives EINVAL");
    expect_errno(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0), EINVAL,
                 "FUTEX_WAKE_BITSET with bitset 0 gives EINVAL");
    expect_errno(futex(&word, 100, 1, NULL, NULL, 0), ENOSYS, "an unknown futex operation gives ENOSYS");
    expect_errno(futex(&word, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0), ENOSYS,
                 "FUTEX_CLOCK_REALTIME with FUTEX_WAKE gives ENOSYS");
    static uint32_t pair[2];
    void *unaligned = (char *)pair + 1;
    expect_errno(futex(unaligned, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EINVAL,
                 "FUTEX_WAIT on an address that is not 4-byte aligned gives EINVAL");
    expect_errno(futex(unaligned, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), EINVAL,
                 "FUTEX_WAKE on an address that is not 4-byte aligned gives EINVAL");
    expect_errno(futex(bad_address, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EFAULT,
                 "FUTEX_WAIT_PRIVATE on an unmapped address gives EFAULT");
    expect_errno(futex(bad_address, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT,
                 "FUTEX_WAIT on an unmapped address gives EFAULT");
    expect_errno(futex(bad_address, FUTEX_WAKE, 1, NULL, NULL, 0), EFAULT,
                 "FUTEX_WAKE (shared) on an unmapped address gives EFAULT");
    expect_eq(futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 0, "FUTEX_WAKE with no waiters returns 0");
}

static void check_wait_wake(void)
{
    static uint32_t word, staging, target;
    struct waiter w[4];

    start_waiter(&w[0], &word, FUTEX_WAIT_PRIVATE, 0);
    int woke = wake_one_eventually(&word, FUTEX_WAKE_PRIVATE);
    join_waiters(w, 1);
    check(woke && w[0].result == 0, "FUTEX_WAKE_PRIVATE returns 1 and the FUTEX_WAIT_PRIVATE waiter returns 0",
          "wake %d, wait %ld (%s)", woke, w[0].result, errno_name(w[0].err));

    start_waiter(&w[0], &word, FUTEX_WAIT, 0);
    woke = wake_one_eventually(&word, FUTEX_WAKE);
    join_waiters(w, 1);
    check(woke && w[0].result == 0, "FUTEX_WAKE returns 1 and the FUTEX_WAIT waiter returns 0",
          "wake %d, wait %ld (%s)", woke, w[0].result, errno_name(w[0].err));

    start_waiter(&w[0], &word, FUTEX_WAIT_BITSET_PRIVATE, FUTEX_BITSET_MATCH_ANY);
    woke = wake_one_eventually(&word, FUTEX_WAKE_PRIVATE);
    join_waiters(w, 1);
    check(woke && w[0].result == 0, "FUTEX_WAKE wakes a FUTEX_WAIT_BITSET waiter with an absolute deadline",
          "wake %d, wait %ld (%s)", woke, w[0].result, errno_name(w[0].err));

    /* Four waiters, all surely queued on TARGET. */
    for (int i = 0; i < 4; i++)
        start_waiter(&w[i], &staging, FUTEX_WAIT_PRIVATE, 0);
    long moved = gather(&staging, &target, 4, FUTEX_REQUEUE_PRIVATE);
    expect_eq(moved, 4, "FUTEX_REQUEUE moves four waiters to another futex and counts them");
    long r = futex(&target, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    wait_done(w, 4, 1);
    sleep_ms(50);
    int done = count_done(w, 4);
    check(r == 1 && done == 1, "FUTEX_WAKE of 1 with four waiters wakes exactly one", "returned %ld, %d woke", r,
          done);
    r = futex(&target, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    int zero = join_waiters(w, 4);
    check(r == 3 && zero == 4, "FUTEX_WAKE of INT_MAX wakes the other three and returns 3",
          "returned %ld, %d waits returned 0", r, zero);
}

static void check_requeue(void)
{
    static uint32_t staging, a, b = 7;
    struct waiter w[3];

    for (int i = 0; i < 3; i++)
        start_waiter(&w[i], &staging, FUTEX_WAIT_PRIVATE, 0);
    long moved = gather(&staging, &a, 3, FUTEX_REQUEUE_PRIVATE);
    long r = futex2(&a, FUTEX_REQUEUE_PRIVATE, 1, 1, &b, 0);
    wait_done(w, 3, 1);
    check(moved == 3 && r == 2, "FUTEX_REQUEUE waking 1 and moving 1 of three waiters returns 2",
          "gathered %ld, returned %ld", moved, r);
    long left = futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    long requeued = futex(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    int zero = join_waiters(w, 3);
    check(left == 1 && requeued == 1 && zero == 3, "one waiter is left on the first futex and one moved to the second",
          "%ld left, %ld moved, %d returned 0", left, requeued, zero);

    errno = 0;
    expect_errno(futex2(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &b, a + 1), EAGAIN,
                 "FUTEX_CMP_REQUEUE when the word holds another value gives EAGAIN");
    expect_errno(futex2(&a, FUTEX_CMP_REQUEUE_PRIVATE, -1, 1, &b, a), EINVAL,
                 "FUTEX_CMP_REQUEUE with a negative count gives EINVAL");
    for (int i = 0; i < 2; i++)
        start_waiter(&w[i], &staging, FUTEX_WAIT_PRIVATE, 0);
    moved = gather(&staging, &a, 2, FUTEX_REQUEUE_PRIVATE);
    r = futex2(&a, FUTEX_CMP_REQUEUE_PRIVATE, 0, 1, &b, a);
    left = futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    requeued = futex(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    zero = join_waiters(w, 2);
    check(moved == 2 && r == 1 && left == 1 && requeued == 1 && zero == 2,
          "FUTEX_CMP_REQUEUE with the right value moves one of two waiters and returns 1",
          "gathered %ld, returned %ld, %ld left, %ld moved", moved, r, left, requeued);

    /* The same with shared futexes. */
    for (int i = 0; i < 2; i++)
        start_waiter(&w[i], &staging, FUTEX_WAIT, 0);
    moved = gather(&staging, &a, 2, FUTEX_REQUEUE);
    r = futex2(&a, FUTEX_CMP_REQUEUE, 1, 1, &b, a);
    requeued = futex(&b, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    zero = join_waiters(w, 2);
    check(moved == 2 && r == 2 && requeued == 1 && zero == 2,
          "shared FUTEX_REQUEUE and FUTEX_CMP_REQUEUE move and wake waiters too", "gathered %ld, returned %ld, %ld moved",
          moved, r, requeued);
}

static void check_wake_op(void)
{
    static uint32_t staging_a, staging_b, a, b;
    struct waiter wa, wb;

    b = 5;
    start_waiter(&wa, &staging_a, FUTEX_WAIT_PRIVATE, 0);
    start_waiter(&wb, &staging_b, FUTEX_WAIT_PRIVATE, 0);
    long moved = gather(&staging_a, &a, 1, FUTEX_REQUEUE_PRIVATE) + gather(&staging_b, &b, 1, FUTEX_REQUEUE_PRIVATE);
    /* *b = 7; wake 1 on a; wake 1 on b if the old value was 4 (it was 5). */
    long r = futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 4));
    wait_done(&wa, 1, 1);
    sleep_ms(50);
    check(moved == 2 && r == 1 && b == 7 && atomic_load(&wa.done) && !atomic_load(&wb.done),
          "FUTEX_WAKE_OP sets the second word and wakes only the first futex when the comparison fails",
          "gathered %ld, returned %ld, second word %u, woken %d and %d", moved, r, b, atomic_load(&wa.done),
          atomic_load(&wb.done));
    /* *b += 3; wake 1 on a (none left); wake 1 on b if the old value was 7. */
    r = futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 7));
    wait_done(&wb, 1, 1);
    check(r == 1 && b == 10 && atomic_load(&wb.done),
          "FUTEX_WAKE_OP adds to the second word and wakes its waiter when the comparison holds",
          "returned %ld, second word %u, woken %d", r, b, atomic_load(&wb.done));
    join_waiters(&wa, 1);
    join_waiters(&wb, 1);
    check(wa.result == 0 && wb.result == 0, "both FUTEX_WAKE_OP waiters return 0", "got %ld and %ld", wa.result,
          wb.result);

    b = 0x10;
    int ok = futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(FUTEX_OP_OR, 3, FUTEX_OP_CMP_GT, 100)) == 0 &&
             b == 0x13;
    ok &= futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(FUTEX_OP_ANDN, 1, FUTEX_OP_CMP_NE, 0x13)) == 0 &&
          b == 0x12;
    ok &= futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_LT, 0)) == 0 &&
          b == 0xed;
    ok &= futex2(&a, FUTEX_WAKE_OP, 1, 1, &b,
                 FUTEX_OP((FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_GE, 0)) == 0 &&
          b == 16;
    check(ok, "FUTEX_WAKE_OP's OR, ANDN, XOR and SET with FUTEX_OP_OPARG_SHIFT write the second word",
          "it holds %#x", b);
    errno = 0;
    expect_errno(futex2(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b, FUTEX_OP(7, 0, FUTEX_OP_CMP_EQ, 0)), ENOSYS,
                 "FUTEX_WAKE_OP with an unknown operation gives ENOSYS");
}

static void check_bitsets(void)
{
    static uint32_t staging, word;
    struct waiter w;

    start_waiter(&w, &staging, FUTEX_WAIT_BITSET_PRIVATE, 0x1);
    long moved = gather(&staging, &word, 1, FUTEX_REQUEUE_PRIVATE);
    long r = futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x2);
    sleep_ms(50);
    check(moved == 1 && r == 0 && !atomic_load(&w.done),
          "FUTEX_WAKE_BITSET with a bitset disjoint from the waiter's wakes nobody", "gathered %ld, returned %ld",
          moved, r);
    r = futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x3);
    join_waiters(&w, 1);
    check(r == 1 && w.result == 0, "FUTEX_WAKE_BITSET with an overlapping bitset wakes the waiter",
          "returned %ld, wait %ld", r, w.result);

    start_waiter(&w, &word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0x4);
    int woke = wake_one_eventually(&word, FUTEX_WAKE_PRIVATE);
    join_waiters(&w, 1);
    check(woke && w.result == 0, "plain FUTEX_WAKE wakes a waiter with any bitset", "wake %d, wait %ld", woke,
          w.result);
}

/* --- Signals --- */

static atomic_int handler_tid;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&handler_tid, gettid());
}

static void check_eintr(void)
{
    static uint32_t staging, word;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);

    struct waiter w;
    start_waiter_how(&w, &staging, FUTEX_WAIT_PRIVATE, 0, 1);
    long moved = gather(&staging, &word, 1, FUTEX_REQUEUE_PRIVATE);
    syscall(SYS_tgkill, getpid(), atomic_load(&w.tid), SIGUSR1);
    int ended = wait_done(&w, 1, 1);
    if (!ended)
        futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    join_waiters(&w, 1);
    check(moved == 1 && ended && w.result == -1 && w.err == EINTR,
          "a signal whose handler has no SA_RESTART interrupts FUTEX_WAIT with EINTR", "gathered %ld, got %ld, %s",
          moved, w.result, errno_name(w.err));
    check(atomic_load(&handler_tid) == atomic_load(&w.tid), "the handler ran in the waiting thread",
          "it ran elsewhere");
    signal(SIGUSR1, SIG_DFL);
}

/* --- Shared futexes across fork --- */

static void check_across_fork(void)
{
    uint32_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        check(0, "map a shared page", "failed with %s", errno_name(errno));
        return;
    }
    uint32_t *word = &page[0], *other = &page[16];

    pid_t pid = fork();
    if (pid == 0)
        _exit(wake_one_eventually(word, FUTEX_WAKE) ? 0 : 1);
    struct timespec ts = { PATIENCE_MS / 1000, 0 };
    long r = futex(word, FUTEX_WAIT, 0, &ts, NULL, 0);
    int err = errno;
    int status = reap(pid, 2 * PATIENCE_MS);
    check(r == 0 && exited_with(status, 0),
          "a shared FUTEX_WAIT in the parent is woken by the child's FUTEX_WAKE on a MAP_SHARED page",
          "wait %ld (%s), child status %#x", r, errno_name(r ? err : 0), status);

    pid = fork();
    if (pid == 0)
        _exit(futex(word, FUTEX_WAIT, 0, &ts, NULL, 0) == 0 ? 0 : 1);
    int woke = wake_one_eventually(word, FUTEX_WAKE);
    status = reap(pid, 2 * PATIENCE_MS);
    check(woke && exited_with(status, 0), "a shared FUTEX_WAIT in the child is woken by the parent's FUTEX_WAKE",
          "wake %d, child status %#x", woke, status);

    /* The child waits on WORD; the parent moves it to OTHER (so it is surely
     * queued there); a private wake in the parent does not reach it, a
     * shared one does. */
    pid = fork();
    if (pid == 0)
        _exit(futex(word, FUTEX_WAIT, 0, &ts, NULL, 0) == 0 ? 0 : 1);
    long moved = gather(word, other, 1, FUTEX_REQUEUE);
    long private_woken = futex(other, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    long shared_woken = futex(other, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    status = reap(pid, 2 * PATIENCE_MS);
    check(moved == 1, "a shared FUTEX_REQUEUE moves another process's waiter", "moved %ld", moved);
    check(private_woken == 0 && shared_woken == 1 && exited_with(status, 0),
          "a private wake does not reach a waiter in another process; a shared one does",
          "private %ld, shared %ld, status %#x", private_woken, shared_woken, status);

    pid = fork();
    if (pid == 0) {
        static uint32_t child_word;
        long tid = syscall(SYS_set_tid_address, &child_word);
        _exit(tid == gettid() && tid == getpid() ? 0 : 1);
    }
    status = reap(pid, 2 * PATIENCE_MS);
    check(exited_with(status, 0), "set_tid_address returns the caller's tid", "status %#x", status);
    munmap(page, 4096);
}

/* --- A thread made by a raw clone --- */

/* What the raw thread writes: its tid, its thread pointer, and what
 * set_tid_address returned to it. */
struct raw_record {
    uint32_t tid;
    uint32_t pad;
    uint64_t tls;
    uint32_t set_tid_result;
};

/* clone(FLAGS, STACK, PTID, TLS, CTID); the child stores its gettid and
 * tpidr_el0 in *RECORD, calls set_tid_address(NEW_CTID) if that is not
 * NULL, and ends with the exit system call; it touches no stack and no
 * glibc state. Returns what clone returned to the parent. */
static long raw_clone(unsigned long flags, void *stack, uint32_t *ptid, void *tls, uint32_t *ctid,
                      struct raw_record *record, uint32_t *new_ctid)
{
    register unsigned long x0 __asm__("x0") = flags;
    register void *x1 __asm__("x1") = stack;
    register uint32_t *x2 __asm__("x2") = ptid;
    register void *x3 __asm__("x3") = tls;
    register uint32_t *x4 __asm__("x4") = ctid;
    register long x8 __asm__("x8") = SYS_clone;
    register struct raw_record *x9 __asm__("x9") = record;
    register uint32_t *x11 __asm__("x11") = new_ctid;
    __asm__ volatile("svc #0\n\t"
                     "cbnz x0, 1f\n\t"
                     "mov x8, %[gettid]\n\t"
                     "svc #0\n\t"
                     "str w0, [x9]\n\t"
                     "mrs x10, tpidr_el0\n\t"
                     "str x10, [x9, #8]\n\t"
                     "cbz x11, 2f\n\t"
                     "mov x0, x11\n\t"
                     "mov x8, %[set_tid_address]\n\t"
                     "svc #0\n\t"
                     "str w0, [x9, #16]\n"
                     "2:\n\t"
                     "mov x0, #0\n\t"
                     "mov x8, %[exit]\n\t"
                     "svc #0\n"
                     "1:\n"
                     : "+r"(x0), "+r"(x8)
                     : "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x9), "r"(x11), [gettid] "i"(SYS_gettid),
                       [set_tid_address] "i"(SYS_set_tid_address), [exit] "i"(SYS_exit)
                     : "x10", "memory", "cc");
    return (long)x0;
}

/* Waits (shared FUTEX_WAIT, as the kernel's wake is shared) until *WORD is
 * 0, up to PATIENCE_MS; returns whether it became 0. */
static int wait_for_zero(uint32_t *word)
{
    long long start = now_ns(CLOCK_MONOTONIC);
    for (;;) {
        uint32_t value = __atomic_load_n(word, __ATOMIC_SEQ_CST);
        if (value == 0)
            return 1;
        if (ms_since(CLOCK_MONOTONIC, start) > PATIENCE_MS)
            return 0;
        struct timespec ts = { 0, 100000000 };
        futex(word, FUTEX_WAIT, value, &ts, NULL, 0);
    }
}

static void check_raw_clone(void)
{
    const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    size_t size = 64 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static uint64_t fake_tls[8];
    static uint32_t ptid, ctid, other_ctid;
    static struct raw_record record;

    ctid = 0xffffffff;
    long tid = raw_clone(flags, stack + size, &ptid, fake_tls, &ctid, &record, NULL);
    check(tid > 0 && (long)ptid == tid, "clone with CLONE_PARENT_SETTID writes the new thread's tid for the parent",
          "clone returned %ld", tid);
    int cleared = tid > 0 && wait_for_zero(&ctid);
    check(cleared, "CLONE_CHILD_CLEARTID: the tid word is cleared and woken when the thread exits", "it is %#x",
          ctid);
    check(cleared && (long)record.tid == tid && record.tid != (uint32_t)getpid(),
          "the raw thread's gettid is what clone returned, not the pid", "it is not");
    check(cleared && record.tls == (uint64_t)(uintptr_t)fake_tls,
          "CLONE_SETTLS gives the raw thread the thread pointer it was given", "it differs");

    /* CLONE_CHILD_SETTID writes the tid into CTID; the thread then moves its
     * clear-on-exit word with set_tid_address, so CTID keeps the tid and
     * OTHER_CTID is cleared instead. */
    ctid = 0;
    other_ctid = 0xffffffff;
    memset(&record, 0, sizeof record);
    tid = raw_clone(flags | CLONE_CHILD_SETTID, stack + size, &ptid, fake_tls, &ctid, &record, &other_ctid);
    cleared = tid > 0 && wait_for_zero(&other_ctid);
    check(cleared && (long)record.set_tid_result == tid,
          "set_tid_address in a thread returns its tid and moves its clear-on-exit word", "it is %#x",
          other_ctid);
    check(cleared && (long)ctid == tid, "CLONE_CHILD_SETTID writes the tid, and the old word is left alone after",
          "it is %#x", ctid);
    munmap(stack, size);
}

/* --- Robust lists --- */

/* The robust-list checks, in order. A kernel without robust lists gets
 * them as skipped, so that both print the same lines: the reference,
 * qemu-user 7.2, answers set_robust_list and get_robust_list with ENOSYS.
 * glibc 2.36 still accepts robust mutexes there (pthread_mutexattr_setrobust
 * and pthread_mutex_init return 0), but nobody marks the futex word of an
 * owner that dies, so the next lock would wait for ever instead of giving
 * EOWNERDEAD. */
static const char *const robust_checks[] = {
    "robust lists: get_robust_list gives the list head glibc registered, and its length",
    "robust lists: set_robust_list with a wrong length gives EINVAL",
    "robust lists: get_robust_list gives back the head set_robust_list set",
    "robust lists: a thread's death sets FUTEX_OWNER_DIED and clears the tid in the futex word it held",
    "robust lists: a thread's death wakes a waiter of the futex word it held (FUTEX_WAITERS)",
    "robust lists: locking a robust mutex whose owner thread died gives EOWNERDEAD",
    "robust lists: after pthread_mutex_consistent the mutex locks normally",
    "robust lists: a robust mutex unlocked without pthread_mutex_consistent gives ENOTRECOVERABLE",
    "robust lists: a process-shared robust mutex whose owner process died gives EOWNERDEAD",
};

/* A futex word on a robust list. */
struct robust_lock {
    struct robust_list link;
    uint32_t word;
};

struct robust_owner {
    struct robust_list_head head;
    struct robust_lock lock;
    atomic_int tid, registered;
    sem_t exit_now;
};

/* Puts one futex word, held with FUTEX_WAITERS set, on a robust list of
 * its own, then ends when told. */
static void *robust_owner(void *arg)
{
    struct robust_owner *o = arg;
    pid_t tid = gettid();
    o->lock.word = (uint32_t)tid | FUTEX_WAITERS;
    o->lock.link.next = &o->head.list;
    o->head.list.next = &o->lock.link;
    o->head.futex_offset = offsetof(struct robust_lock, word) - offsetof(struct robust_lock, link);
    o->head.list_op_pending = NULL;
    long r = syscall(SYS_set_robust_list, &o->head, sizeof o->head);
    atomic_store(&o->tid, tid);
    atomic_store(&o->registered, r == 0 ? 1 : -1);
    sem_wait(&o->exit_now);
    return NULL;
}

static void *lock_and_leave(void *arg)
{
    return (void *)(intptr_t)pthread_mutex_lock(arg);
}

/* pthread_mutex_timedlock with a deadline PATIENCE_MS away, so that a
 * kernel that never reports the owner's death fails the check instead of
 * hanging. */
static int lock_patiently(pthread_mutex_t *m)
{
    struct timespec deadline = deadline_in(CLOCK_REALTIME, PATIENCE_MS);
    return pthread_mutex_timedlock(m, &deadline);
}

static void init_robust(pthread_mutex_t *m, int pshared)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (pshared)
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
}

static void check_robust(void)
{
    struct robust_list_head *glibc_head = NULL;
    size_t len = 0;
    long r = syscall(SYS_get_robust_list, 0, &glibc_head, &len);
    if (r == -1 && errno == ENOSYS) {
        for (size_t i = 0; i < sizeof robust_checks / sizeof robust_checks[0]; i++) {
            char line[256];
            snprintf(line, sizeof line, "%s (skipped: the kernel has no robust lists)", robust_checks[i]);
            check(1, line, "skipped");
        }
        return;
    }
    check(r == 0 && glibc_head != NULL && len == sizeof(struct robust_list_head), robust_checks[0],
          "got %ld, length %zu", r, len);
    struct robust_list_head mine = { .list = { &mine.list }, .futex_offset = 0, .list_op_pending = NULL };
    errno = 0;
    expect_errno(syscall(SYS_set_robust_list, &mine, sizeof mine - 1), EINVAL, robust_checks[1]);
    long set = syscall(SYS_set_robust_list, &mine, sizeof mine);
    struct robust_list_head *got = NULL;
    len = 0;
    long get = syscall(SYS_get_robust_list, 0, &got, &len);
    syscall(SYS_set_robust_list, glibc_head, sizeof *glibc_head);
    check(set == 0 && get == 0 && got == &mine && len == sizeof mine, robust_checks[2], "set %ld, get %ld", set, get);

    /* The kernel's part: a thread dies with a futex word on its robust list
     * while another thread waits on that word. */
    static struct robust_owner owner;
    static uint32_t staging;
    memset(&owner, 0, sizeof owner);
    sem_init(&owner.exit_now, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, robust_owner, &owner);
    long long start = now_ns(CLOCK_MONOTONIC);
    while (!atomic_load(&owner.registered) && ms_since(CLOCK_MONOTONIC, start) < PATIENCE_MS)
        sleep_ms(1);
    struct waiter w;
    staging = 0;
    start_waiter(&w, &staging, FUTEX_WAIT, 0); /* shared: the kernel's wake is shared */
    long moved = gather(&staging, &owner.lock.word, 1, FUTEX_REQUEUE);
    sem_post(&owner.exit_now);
    pthread_join(t, NULL);
    uint32_t tid = (uint32_t)atomic_load(&owner.tid);
    int woke = wait_done(&w, 1, 1);
    if (!woke)
        futex(&owner.lock.word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    join_waiters(&w, 1);
    check(atomic_load(&owner.registered) == 1 && tid != 0 && owner.lock.word == (FUTEX_WAITERS | FUTEX_OWNER_DIED),
          robust_checks[3], "the word is %#x", owner.lock.word);
    check(moved == 1 && woke && w.result == 0, robust_checks[4], "gathered %ld, woken %d, wait %ld", moved, woke,
          w.result);
    sem_destroy(&owner.exit_now);

    /* glibc's part, in a thread and in a process. */
    pthread_mutex_t m;
    init_robust(&m, 0);
    void *locked = (void *)(intptr_t)-1;
    pthread_create(&t, NULL, lock_and_leave, &m);
    pthread_join(t, &locked);
    int first = lock_patiently(&m);
    check(locked == NULL && first == EOWNERDEAD, robust_checks[5], "got %s", errno_name(first));
    int consistent = first == EOWNERDEAD ? pthread_mutex_consistent(&m) : -1;
    int unlocked = pthread_mutex_unlock(&m);
    int again = lock_patiently(&m);
    if (again == 0)
        pthread_mutex_unlock(&m);
    check(consistent == 0 && unlocked == 0 && again == 0, robust_checks[6], "consistent %d, unlock %d, lock %s",
          consistent, unlocked, errno_name(again));
    pthread_mutex_destroy(&m);

    init_robust(&m, 0);
    pthread_create(&t, NULL, lock_and_leave, &m);
    pthread_join(t, NULL);
    first = lock_patiently(&m);
    if (first == EOWNERDEAD)
        pthread_mutex_unlock(&m);
    again = lock_patiently(&m);
    check(first == EOWNERDEAD && again == ENOTRECOVERABLE, robust_checks[7], "got %s, then %s", errno_name(first),
          errno_name(again));

    pthread_mutex_t *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    init_robust(shared, 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(pthread_mutex_lock(shared) == 0 ? 0 : 1);
    int status = reap(pid, 2 * PATIENCE_MS);
    first = lock_patiently(shared);
    if (first == EOWNERDEAD) {
        pthread_mutex_consistent(shared);
        pthread_mutex_unlock(shared);
    }
    check(exited_with(status, 0) && first == EOWNERDEAD, robust_checks[8], "child status %#x, lock %s", status,
          errno_name(first));
    munmap(shared, sizeof *shared);
}

int main(void)
{
    check_wait_errors();
    check_wait_wake();
    check_requeue();
    check_wake_op();
    check_bitsets();
    check_eintr();
    check_across_fork();
    check_raw_clone();
    check_robust();
    return finish();
}
