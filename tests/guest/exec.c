/* exec.c: execve and its relatives. The program re-executes itself: with
 * argv[1] starting with "report" it is a child that writes a struct report
 * (what it sees of its argv, environment, pid, descriptors and signals) to
 * descriptor REPORT_FD and exits; "exit N" exits with N. The parent runs
 * it through execve of /proc/self/exe, fexecve, #! scripts written to /tmp
 * whose interpreter is this program, vfork + execve and posix_spawn, and
 * checks the errors execve gives (ENOENT, EACCES, ENOEXEC, ENOTDIR, EFAULT).
 * Only the parent prints. execveat itself is not checked: the reference,
 * qemu-user 7.2, does not implement it (ENOSYS). */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Descriptors the child inherits: the report pipe, one opened with
 * O_CLOEXEC, one marked FD_CLOEXEC with fcntl, one plain. */
#define REPORT_FD 100
#define CLOEXEC_FD 101
#define FDFLAG_FD 102
#define KEPT_FD 103

/* What a "report" child sees. */
struct report {
    int argc;
    char argv[1024]; /* the arguments joined with '|' */
    int envc;
    char env[512]; /* the environment joined with '|' */
    pid_t pid, ppid;
    int cloexec_open, fdflag_open, kept_open;
    int usr1_default, usr2_ignored, term_blocked, hup_pending;
    int altstack_disabled;
    char exe[PATH_MAX];
};

/* The program's own path (readlink of /proc/self/exe). */
static char self[PATH_MAX];
static char *const child_env[] = { "MORSEL_A=1", "MORSEL_B=two words", NULL };

static void join(char *out, size_t size, char **words, int count)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < count && words[i]; i++) {
        int n = snprintf(out + at, size - at, "%s%s", i ? "|" : "", words[i]);
        if (n < 0 || (size_t)n >= size - at)
            break;
        at += (size_t)n;
    }
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* The child role: fills a report and writes it to REPORT_FD. */
static int report_child(int argc, char **argv)
{
    struct report r;
    memset(&r, 0, sizeof r);
    r.argc = argc;
    join(r.argv, sizeof r.argv, argv, argc);
    int envc = 0;
    while (environ[envc])
        envc++;
    r.envc = envc;
    join(r.env, sizeof r.env, environ, envc);
    r.pid = getpid();
    r.ppid = getppid();
    r.cloexec_open = is_open(CLOEXEC_FD);
    r.fdflag_open = is_open(FDFLAG_FD);
    r.kept_open = is_open(KEPT_FD);
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    r.usr1_default = sa.sa_handler == SIG_DFL;
    sigaction(SIGUSR2, NULL, &sa);
    r.usr2_ignored = sa.sa_handler == SIG_IGN;
    sigset_t set;
    sigprocmask(SIG_BLOCK, NULL, &set);
    r.term_blocked = sigismember(&set, SIGTERM);
    sigpending(&set);
    r.hup_pending = sigismember(&set, SIGHUP);
    stack_t ss;
    r.altstack_disabled = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE);
    ssize_t n = readlink("/proc/self/exe", r.exe, sizeof r.exe - 1);
    r.exe[n > 0 ? n : 0] = '\0';
    return write(REPORT_FD, &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1;
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* In a child before the exec: the descriptors and signal state the report
 * looks at. */
static void prepare_child(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup3(fd, CLOEXEC_FD, O_CLOEXEC);
    dup2(fd, FDFLAG_FD);
    fcntl(FDFLAG_FD, F_SETFD, FD_CLOEXEC);
    dup2(fd, KEPT_FD);
    close(fd);
    struct sigaction sa = { 0 };
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGHUP);
    static char altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}

static size_t read_all(int fd, void *buffer, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)buffer + got, size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* How a child runs the program; returns only if that failed. */
typedef void (*exec_fn)(const void *arg);

/* Forks a child that prepares itself and runs EXEC(ARG); reads its report.
 * Returns 1 if a whole report came and the child exited with 0. */
static int run_report(exec_fn exec, const void *arg, struct report *r, pid_t *pid)
{
    int fds[2];
    memset(r, 0, sizeof *r);
    if (pipe(fds) != 0)
        return 0;
    *pid = fork();
    if (*pid == 0) {
        close(fds[0]);
        dup2(fds[1], REPORT_FD);
        close(fds[1]);
        prepare_child();
        exec(arg);
        _exit(127);
    }
    close(fds[1]);
    size_t got = read_all(fds[0], r, sizeof *r);
    close(fds[0]);
    int status = 0;
    waitpid(*pid, &status, 0);
    return got == sizeof *r && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char *report_argv[] = { "first", "report", "x y", NULL };

static void exec_proc_self_exe(const void *arg)
{
    (void)arg;
    execve("/proc/self/exe", report_argv, child_env);
}

static void exec_fexecve(const void *arg)
{
    (void)arg;
    int fd = open(self, O_RDONLY);
    fexecve(fd, report_argv, child_env);
}

static void exec_path(const void *arg)
{
    char *argv[] = { "script-name", "one", "two", NULL };
    execve((const char *)arg, argv, child_env);
}

/* Makes system call NR (an exec that should fail) in a child, which exits
 * with its errno; if the exec succeeds the program exits with 200 (see
 * exit_argv). Returns the exit status (or -1 if the child did not exit). */
static int exec_errno(long nr, long a0, long a1, long a2, long a3, long a4)
{
    pid_t pid = fork();
    if (pid == 0) {
        syscall(nr, a0, a1, a2, a3, a4);
        _exit(errno);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *exit_argv[] = { "x", "exit", "200", NULL };

static void expect_exec_errno(const char *path, int err, const char *what)
{
    int got = exec_errno(SYS_execve, (long)path, (long)exit_argv, (long)child_env, 0, 0);
    check(got == err, what, "got %s (%d), expected %s", errno_name(got), got, errno_name(err));
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? chmod(path, mode) : -1;
}

/* The environment arrived: both entries, nothing else (qemu-user reverses
 * the order, so the order is not checked). */
static int env_ok(const struct report *r)
{
    return r->envc == 2 && (strcmp(r->env, "MORSEL_A=1|MORSEL_B=two words") == 0 ||
                            strcmp(r->env, "MORSEL_B=two words|MORSEL_A=1") == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], "report", 6) == 0)
        return report_child(argc, argv);
    if (argc > 2 && strcmp(argv[1], "exit") == 0)
        return atoi(argv[2]);

    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    check(n > 0 && self[0] == '/', "readlink of /proc/self/exe gives an absolute path", "got %zd", n);
    if (n <= 0)
        return finish();
    self[n] = '\0';

    /* execve of /proc/self/exe. */
    struct report r;
    pid_t pid;
    int ok = run_report(exec_proc_self_exe, NULL, &r, &pid);
    check(ok, "execve of /proc/self/exe runs the program again", "no report");
    check(r.argc == 3 && strcmp(r.argv, "first|report|x y") == 0, "execve passes argv", "argc %d, \"%s\"", r.argc,
          r.argv);
    check(env_ok(&r), "execve passes envp and nothing else", "%d entries: \"%s\"", r.envc, r.env);
    check(r.pid == pid, "the pid is kept across execve", "it changed");
    check(r.ppid == getpid(), "the parent is kept across execve", "it changed");
    check(strcmp(r.exe, self) == 0, "/proc/self/exe names the program after execve", "got \"%s\"", r.exe);
    check(!r.cloexec_open, "an O_CLOEXEC descriptor is closed by execve", "it is open");
    check(!r.fdflag_open, "a descriptor marked FD_CLOEXEC by fcntl is closed by execve", "it is open");
    check(r.kept_open, "a descriptor without close-on-exec stays open", "it is closed");
    check(r.usr1_default, "a handled signal is reset to SIG_DFL by execve", "it is not");
    check(r.usr2_ignored, "an ignored signal stays ignored across execve", "it does not");
    check(r.term_blocked, "the blocked mask is kept across execve", "SIGTERM is unblocked");
    check(r.altstack_disabled, "execve removes the alternate signal stack", "it is still there");
    check(r.hup_pending, "a pending blocked signal stays pending across execve", "it is gone");

    /* fexecve: glibc uses execveat(fd, "", AT_EMPTY_PATH), or execve of
     * /proc/self/fd/N where execveat gives ENOSYS (as qemu-user 7.2 does). */
    ok = run_report(exec_fexecve, NULL, &r, &pid);
    check(ok && r.pid == pid && strcmp(r.argv, "first|report|x y") == 0 && env_ok(&r),
          "fexecve runs the program a descriptor refers to", "report %d, \"%s\"", ok, r.argv);

    /* Files for the scripts and the errors, in a fresh directory. */
    char dir[] = "/tmp/morsel-exec-XXXXXX";
    if (!mkdtemp(dir)) {
        check(0, "make a directory in /tmp", "failed with %s", errno_name(errno));
        return finish();
    }
    char script[64], spaced[64], nested[64], noexec[64], garbage[64], empty[64], lost[64], text[2 * PATH_MAX];
    snprintf(script, sizeof script, "%s/script", dir);
    snprintf(spaced, sizeof spaced, "%s/spaced", dir);
    snprintf(nested, sizeof nested, "%s/nested", dir);
    snprintf(noexec, sizeof noexec, "%s/noexec", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    snprintf(lost, sizeof lost, "%s/lost", dir);
    snprintf(text, sizeof text, "#!%s report\nthe rest is not read\n", self);
    int written = write_file(script, text, 0755);
    snprintf(text, sizeof text, "#! \t%s report  with  spaces \t\n", self);
    written |= write_file(spaced, text, 0755);
    snprintf(text, sizeof text, "#!%s\n", script);
    written |= write_file(nested, text, 0755);
    snprintf(text, sizeof text, "#!%s report\n", self);
    written |= write_file(noexec, text, 0644);
    written |= write_file(garbage, "this is not a program\n\x01\x02\x03\n", 0755);
    written |= write_file(empty, "", 0755);
    written |= write_file(lost, "#!/nonexistent/interpreter\n", 0755);
    check(written == 0, "write the scripts and files to run", "a write failed");

    /* A #! script runs its interpreter with [interpreter, argument, script path, argv[1]...]. */
    char want[2 * PATH_MAX];
    ok = run_report(exec_path, script, &r, &pid);
    snprintf(want, sizeof want, "%s|report|%s|one|two", self, script);
    check(ok && r.pid == pid, "a #! script runs its interpreter", "no report");
    check(r.argc == 5 && strcmp(r.argv, want) == 0,
          "the interpreter gets its path, the #! argument, the script's path and the arguments after argv[0]",
          "argc %d", r.argc);
    check(env_ok(&r), "the interpreter gets the environment", "%d entries", r.envc);
    check(strcmp(r.exe, self) == 0, "/proc/self/exe names the interpreter", "it does not");
    ok = run_report(exec_path, spaced, &r, &pid);
    snprintf(want, sizeof want, "%s|report  with  spaces|%s|one|two", self, spaced);
    check(ok && strcmp(r.argv, want) == 0,
          "the #! argument is one word: leading and trailing blanks dropped, inner ones kept", "argc %d", r.argc);
    ok = run_report(exec_path, nested, &r, &pid);
    snprintf(want, sizeof want, "%s|report|%s|%s|one|two", self, script, nested);
    check(ok && r.argc == 6 && strcmp(r.argv, want) == 0, "a script's interpreter may itself be a script",
          "report %d, argc %d", ok, r.argc);

    /* vfork + execve. */
    int fds[2];
    if (pipe(fds) != 0)
        return finish();
    pid = vfork();
    if (pid == 0) {
        dup2(fds[1], REPORT_FD);
        execve(self, report_argv, child_env);
        _exit(127);
    }
    close(fds[1]);
    memset(&r, 0, sizeof r);
    size_t got = read_all(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    check(got == sizeof r && r.pid == pid && strcmp(r.argv, "first|report|x y") == 0 && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0,
          "a vfork child execs the program with its argv", "got %zu bytes, status %#x", got, status);
    pid = vfork();
    if (pid == 0) {
        execve(lost, exit_argv, child_env);
        _exit(errno);
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == ENOENT, "a vfork child sees execve's error", "status %#x",
          status);

    /* posix_spawn with file actions and attributes. */
    if (pipe(fds) != 0)
        return finish();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], REPORT_FD);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addopen(&actions, KEPT_FD, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t mask, defaults;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGUSR2);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    signal(SIGUSR2, SIG_IGN);
    int e = posix_spawn(&pid, self, &actions, &attr, report_argv, child_env);
    signal(SIGUSR2, SIG_DFL);
    close(fds[1]);
    memset(&r, 0, sizeof r);
    got = read_all(fds[0], &r, sizeof r);
    close(fds[0]);
    waitpid(pid, &status, 0);
    check(e == 0 && got == sizeof r && r.pid == pid && strcmp(r.argv, "first|report|x y") == 0 && env_ok(&r),
          "posix_spawn runs the program with its argv and environment", "returned %s, got %zu bytes",
          errno_name(e), got);
    check(r.kept_open, "posix_spawn's file actions open a descriptor", "it is closed");
    check(r.term_blocked, "posix_spawn sets the child's signal mask", "SIGTERM is not blocked");
    check(!r.usr2_ignored, "posix_spawn resets a signal to its default", "SIGUSR2 is still ignored");
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);

    /* Errors. */
    char notdir[80];
    snprintf(notdir, sizeof notdir, "%s/x", script);
    expect_exec_errno("/nonexistent/program", ENOENT, "execve of a missing file gives ENOENT");
    expect_exec_errno("", ENOENT, "execve of an empty path gives ENOENT");
    expect_exec_errno(noexec, EACCES, "execve of a file without the x bit gives EACCES");
    expect_exec_errno(dir, EACCES, "execve of a directory gives EACCES");
    expect_exec_errno(garbage, ENOEXEC, "execve of an executable file in no known format gives ENOEXEC");
    expect_exec_errno(empty, ENOEXEC, "execve of an empty executable file gives ENOEXEC");
    expect_exec_errno(notdir, ENOTDIR, "execve through a file used as a directory gives ENOTDIR");
    expect_exec_errno(lost, ENOENT, "execve of a script whose interpreter is missing gives ENOENT");
    expect_exec_errno((const char *)16, EFAULT, "execve of a bad filename pointer gives EFAULT");
    check(exec_errno(SYS_execve, (long)self, 16, (long)child_env, 0, 0) == EFAULT,
          "execve with a bad argv pointer gives EFAULT", "it did not");
    const char *files[] = { script, spaced, nested, noexec, garbage, empty, lost };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    expect_ok(rmdir(dir), "remove the test directory");
    return finish();
}
