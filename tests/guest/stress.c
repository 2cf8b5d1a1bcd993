/* stress.c: threads and processes under load for a while (the first
 * argument, in seconds of guest time; 3 if none is given): 16 threads in
 * each of 4 worker processes. Every thread adds to its process's
 * mutex-protected counter and to a counter shared by all the processes (in
 * MAP_SHARED memory, under a process-shared mutex), keeping counts of its
 * own; besides that, pairs of threads pass tokens through pipes and back,
 * pairs hand values over through a condition variable, and some threads
 * fork children that exit at once with a status they are given. When the
 * time is up, each worker joins its threads, checks that nothing was lost
 * or doubled and reports its totals to the parent over a pipe; the parent
 * checks the totals and the shared counter. A lost wake-up or a deadlock
 * shows as the watchdog firing: if everything has not finished within
 * 3 * duration + 30 seconds, the parent prints
 * "not ok - finished before the watchdog", kills the workers and exits
 * with 1. Only the parent prints, and only lines that are the same on
 * every run. */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4
#define THREADS 16
#define DEFAULT_SECONDS 3

/* The roles of the threads of a worker, by index. */
#define PIPE_PAIRS 2   /* threads 0-3: (0 sends, 1 echoes), (2 sends, 3 echoes) */
#define HANDOFF_PAIRS 2 /* threads 4-7: (4 gives, 5 takes), (6 gives, 7 takes) */
#define FIRST_FORKER 8 /* threads 8-9 fork children */
#define FORKERS 2
/* threads 10-15 only count */

/* Shared by all the processes. */
struct shared {
    pthread_mutex_t mutex;
    long counter;
};

/* What a worker reports to the parent. */
struct report {
    int threads_created, threads_joined;
    long counter, local_sum;    /* the process counter and the sum of its threads' counts */
    long cross_local_sum;       /* this process's additions to the shared counter */
    long tokens_sent, tokens_received, echoes_received, tokens_out_of_order, pipe_errors;
    long handoffs_given, handoffs_taken, handoff_sum_given, handoff_sum_taken;
    long forks, fork_failures, children_reaped, status_sum, status_want;
};

/* A worker's state, shared by its threads. */
static struct shared *shared;
static long long deadline_ns;
static pthread_mutex_t process_mutex = PTHREAD_MUTEX_INITIALIZER;
static long process_counter;

struct handoff {
    pthread_mutex_t mutex;
    pthread_cond_t not_full, not_empty;
    int full, done;
    long value;
};

static struct handoff handoffs[HANDOFF_PAIRS];
/* to_echo[i]: sender i's tokens to its echoer; back[i]: the echoes. */
static int to_echo[PIPE_PAIRS][2], back[PIPE_PAIRS][2];

struct thread_state {
    int index;
    long local, cross_local;
    long sent, received, echoes, out_of_order, pipe_errors;
    long given, taken, sum_given, sum_taken;
    long forks, fork_failures, reaped, status_sum, status_want;
};

static struct thread_state states[THREADS];

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int time_is_up(void)
{
    return now_ns() >= deadline_ns;
}

/* One addition to each counter, under its mutex. */
static void bump(struct thread_state *s)
{
    pthread_mutex_lock(&process_mutex);
    process_counter++;
    pthread_mutex_unlock(&process_mutex);
    s->local++;
    pthread_mutex_lock(&shared->mutex);
    shared->counter++;
    pthread_mutex_unlock(&shared->mutex);
    s->cross_local++;
}

/* Reads exactly SIZE bytes; returns 1, 0 at end of file, -1 on an error. */
static int read_full(int fd, void *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)buf + got, size - got);
        if (n == 0 && got == 0)
            return 0;
        if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 1;
}

static int write_full(int fd, const void *buf, size_t size)
{
    size_t put = 0;
    while (put < size) {
        ssize_t n = write(fd, (const char *)buf + put, size - put);
        if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            return -1;
        }
        put += (size_t)n;
    }
    return 1;
}

static void pipe_sender(struct thread_state *s, int pair)
{
    do {
        bump(s);
        long token = s->sent;
        if (write_full(to_echo[pair][1], &token, sizeof token) != 1) {
            s->pipe_errors++;
            break;
        }
        s->sent++;
        long echo;
        if (read_full(back[pair][0], &echo, sizeof echo) != 1) {
            s->pipe_errors++;
            break;
        }
        s->echoes++;
        if (echo != token)
            s->out_of_order++;
    } while (!time_is_up());
    close(to_echo[pair][1]); /* the echoer sees the end of the file */
}

static void pipe_echoer(struct thread_state *s, int pair)
{
    for (;;) {
        long token;
        int r = read_full(to_echo[pair][0], &token, sizeof token);
        if (r == 0)
            break;
        if (r != 1) {
            s->pipe_errors++;
            break;
        }
        if (token != s->received)
            s->out_of_order++;
        s->received++;
        bump(s);
        if (write_full(back[pair][1], &token, sizeof token) != 1) {
            s->pipe_errors++;
            break;
        }
    }
    close(back[pair][1]);
}

static void handoff_giver(struct thread_state *s, struct handoff *h)
{
    do {
        bump(s);
        long value = s->given + 1;
        pthread_mutex_lock(&h->mutex);
        while (h->full)
            pthread_cond_wait(&h->not_full, &h->mutex);
        h->value = value;
        h->full = 1;
        pthread_cond_signal(&h->not_empty);
        pthread_mutex_unlock(&h->mutex);
        s->given++;
        s->sum_given += value;
    } while (!time_is_up());
    pthread_mutex_lock(&h->mutex);
    h->done = 1;
    pthread_cond_signal(&h->not_empty);
    pthread_mutex_unlock(&h->mutex);
}

static void handoff_taker(struct thread_state *s, struct handoff *h)
{
    for (;;) {
        pthread_mutex_lock(&h->mutex);
        while (!h->full && !h->done)
            pthread_cond_wait(&h->not_empty, &h->mutex);
        if (!h->full) {
            pthread_mutex_unlock(&h->mutex);
            break;
        }
        long value = h->value;
        h->full = 0;
        pthread_cond_signal(&h->not_full);
        pthread_mutex_unlock(&h->mutex);
        s->taken++;
        s->sum_taken += value;
        bump(s);
    }
}

static void forker(struct thread_state *s)
{
    do {
        bump(s);
        int code = (int)((s->forks * 7 + s->index) & 0x7f);
        pid_t pid = fork();
        if (pid == 0)
            _exit(code);
        if (pid < 0) {
            s->fork_failures++;
            break;
        }
        s->forks++;
        s->status_want += code;
        int status;
        pid_t got;
        while ((got = waitpid(pid, &status, 0)) == -1 && errno == EINTR) {
        }
        if (got == pid && WIFEXITED(status)) {
            s->reaped++;
            s->status_sum += WEXITSTATUS(status);
        }
    } while (!time_is_up());
}

static void *worker_thread(void *arg)
{
    struct thread_state *s = arg;
    int i = s->index;
    if (i < 2 * PIPE_PAIRS) {
        if (i % 2 == 0)
            pipe_sender(s, i / 2);
        else
            pipe_echoer(s, i / 2);
    } else if (i < 2 * PIPE_PAIRS + 2 * HANDOFF_PAIRS) {
        int j = i - 2 * PIPE_PAIRS;
        if (j % 2 == 0)
            handoff_giver(s, &handoffs[j / 2]);
        else
            handoff_taker(s, &handoffs[j / 2]);
    } else if (i >= FIRST_FORKER && i < FIRST_FORKER + FORKERS) {
        forker(s);
    } else {
        do
            bump(s);
        while (!time_is_up());
    }
    return NULL;
}

/* A worker process: runs its threads, then writes its report to FD. */
static int worker(int fd)
{
    struct report r;
    memset(&r, 0, sizeof r);
    for (int p = 0; p < PIPE_PAIRS; p++)
        if (pipe(to_echo[p]) != 0 || pipe(back[p]) != 0)
            return 2;
    for (int h = 0; h < HANDOFF_PAIRS; h++) {
        pthread_mutex_init(&handoffs[h].mutex, NULL);
        pthread_cond_init(&handoffs[h].not_full, NULL);
        pthread_cond_init(&handoffs[h].not_empty, NULL);
    }
    pthread_t threads[THREADS];
    int created[THREADS];
    for (int i = 0; i < THREADS; i++) {
        states[i].index = i;
        created[i] = pthread_create(&threads[i], NULL, worker_thread, &states[i]) == 0;
        r.threads_created += created[i];
    }
    for (int i = 0; i < THREADS; i++)
        if (created[i] && pthread_join(threads[i], NULL) == 0)
            r.threads_joined++;
    r.counter = process_counter;
    for (int i = 0; i < THREADS; i++) {
        struct thread_state *s = &states[i];
        r.local_sum += s->local;
        r.cross_local_sum += s->cross_local;
        r.tokens_out_of_order += s->out_of_order;
        r.pipe_errors += s->pipe_errors;
        if (i < 2 * PIPE_PAIRS) {
            if (i % 2 == 0) {
                r.tokens_sent += s->sent;
                r.echoes_received += s->echoes;
            } else {
                r.tokens_received += s->received;
            }
        }
        r.handoffs_given += s->given;
        r.handoffs_taken += s->taken;
        r.handoff_sum_given += s->sum_given;
        r.handoff_sum_taken += s->sum_taken;
        r.forks += s->forks;
        r.fork_failures += s->fork_failures;
        r.children_reaped += s->reaped;
        r.status_sum += s->status_sum;
        r.status_want += s->status_want;
    }
    return write_full(fd, &r, sizeof r) == 1 ? 0 : 3;
}

/* The parent's view of the workers, for the watchdog. */
static pid_t workers[WORKERS];

static void watchdog(int sig)
{
    (void)sig;
    static const char line[] = "not ok - finished before the watchdog\n";
    write(STDOUT_FILENO, line, sizeof line - 1);
    for (int w = 0; w < WORKERS; w++)
        if (workers[w] > 0)
            kill(workers[w], SIGKILL);
    _exit(1);
}

int main(int argc, char **argv)
{
    long seconds = argc > 1 ? atol(argv[1]) : DEFAULT_SECONDS;
    if (seconds <= 0)
        seconds = DEFAULT_SECONDS;

    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        check(0, "map the shared counter", "failed with %s", errno_name(errno));
        return finish();
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&shared->mutex, &attr);
    pthread_mutexattr_destroy(&attr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(seconds * 3 + 30));

    deadline_ns = now_ns() + seconds * 1000000000LL;
    int reports[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        int fds[2];
        if (pipe(fds) != 0) {
            reports[w] = -1;
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            signal(SIGALRM, SIG_DFL);
            _exit(worker(fds[1]));
        }
        close(fds[1]);
        workers[w] = pid;
        reports[w] = pid > 0 ? fds[0] : -1;
        if (pid < 0)
            close(fds[0]);
    }

    struct report got[WORKERS];
    int have[WORKERS], statuses[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        memset(&got[w], 0, sizeof got[w]);
        have[w] = reports[w] >= 0 && read_full(reports[w], &got[w], sizeof got[w]) == 1;
        if (reports[w] >= 0)
            close(reports[w]);
    }
    for (int w = 0; w < WORKERS; w++) {
        statuses[w] = -1;
        if (workers[w] > 0 && waitpid(workers[w], &statuses[w], 0) != workers[w])
            statuses[w] = -1;
    }
    alarm(0);

    long cross_sum = 0;
    int all_reported = 1;
    for (int w = 0; w < WORKERS; w++) {
        struct report *r = &got[w];
        char what[160];
        int n = w + 1;
        snprintf(what, sizeof what, "process %d: reported its totals and exited with 0", n);
        check(have[w] && statuses[w] != -1 && WIFEXITED(statuses[w]) && WEXITSTATUS(statuses[w]) == 0, what,
              "report %d, status %#x", have[w], statuses[w]);
        all_reported &= have[w];
        cross_sum += r->cross_local_sum;
        snprintf(what, sizeof what, "process %d: all %d threads were created and joined", n, THREADS);
        check(have[w] && r->threads_created == THREADS && r->threads_joined == THREADS, what,
              "%d created, %d joined", r->threads_created, r->threads_joined);
        snprintf(what, sizeof what, "process %d: its mutex-protected counter equals the sum of its threads' counts",
                 n);
        check(have[w] && r->counter == r->local_sum && r->counter > 0, what, "counter %ld, sum %ld", r->counter,
              r->local_sum);
        snprintf(what, sizeof what, "process %d: every token sent through a pipe arrived in order and came back", n);
        check(have[w] && r->tokens_sent > 0 && r->tokens_sent == r->tokens_received &&
                  r->tokens_sent == r->echoes_received && r->tokens_out_of_order == 0 && r->pipe_errors == 0,
              what, "sent %ld, received %ld, echoed back %ld, %ld out of order, %ld errors", r->tokens_sent,
              r->tokens_received, r->echoes_received, r->tokens_out_of_order, r->pipe_errors);
        snprintf(what, sizeof what, "process %d: every condition-variable handoff arrived once", n);
        check(have[w] && r->handoffs_given > 0 && r->handoffs_given == r->handoffs_taken &&
                  r->handoff_sum_given == r->handoff_sum_taken,
              what, "given %ld (sum %ld), taken %ld (sum %ld)", r->handoffs_given, r->handoff_sum_given,
              r->handoffs_taken, r->handoff_sum_taken);
        snprintf(what, sizeof what, "process %d: every forked child was reaped with its exit status", n);
        check(have[w] && r->forks > 0 && r->fork_failures == 0 && r->children_reaped == r->forks &&
                  r->status_sum == r->status_want,
              what, "%ld forks, %ld failed, %ld reaped, status sum %ld, expected %ld", r->forks, r->fork_failures,
              r->children_reaped, r->status_sum, r->status_want);
    }
    check(all_reported && shared->counter == cross_sum && cross_sum > 0,
          "the counter shared by the processes equals the sum of their additions", "counter %ld, sum %ld",
          shared->counter, cross_sum);
    check(1, "finished before the watchdog", "the watchdog fired");
    return finish();
}
