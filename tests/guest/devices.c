/* devices.c: /dev/null, zero, full, random, urandom and /dev/shm; ioctl on
 * files (ENOTTY for terminal requests, FIONBIO, FIOCLEX). */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static void test_device_node(const char *path, unsigned major_number, unsigned minor_number)
{
    char what[96];
    struct stat st;
    snprintf(what, sizeof what, "%s is character device %u:%u", path, major_number, minor_number);
    if (stat(path, &st) != 0) {
        check(0, what, "stat failed with %s", errno_name(errno));
        return;
    }
    check(S_ISCHR(st.st_mode) && major(st.st_rdev) == major_number && minor(st.st_rdev) == minor_number, what,
          "mode %o, device %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void test_null_zero_full(void)
{
    unsigned char buf[4096];
    int fd = open("/dev/null", O_RDWR);
    expect_ok(fd, "open /dev/null");
    expect_eq(write(fd, buf, sizeof buf), sizeof buf, "/dev/null takes every byte written");
    expect_eq(read(fd, buf, sizeof buf), 0, "/dev/null reads as end of file");
    expect_eq(lseek(fd, 100, SEEK_SET), 0, "lseek on /dev/null returns 0");
    close(fd);

    fd = open("/dev/zero", O_RDWR);
    expect_ok(fd, "open /dev/zero");
    memset(buf, 0xaa, sizeof buf);
    expect_eq(read(fd, buf, sizeof buf), sizeof buf, "/dev/zero fills the whole buffer");
    check(all_bytes(buf, sizeof buf, 0), "/dev/zero reads zeros", "a byte is not zero");
    expect_eq(write(fd, buf, 100), 100, "/dev/zero takes writes");
    close(fd);

    fd = open("/dev/full", O_RDWR);
    expect_ok(fd, "open /dev/full");
    expect_errno(write(fd, buf, 1), ENOSPC, "writing to /dev/full gives ENOSPC");
    memset(buf, 0xaa, sizeof buf);
    expect_eq(read(fd, buf, 64), 64, "/dev/full can be read");
    check(all_bytes(buf, 64, 0), "/dev/full reads zeros", "a byte is not zero");
    close(fd);
}

static void test_random(const char *path)
{
    char what[96];
    unsigned char a[64], b[64];
    int fd = open(path, O_RDONLY);
    snprintf(what, sizeof what, "open %s", path);
    expect_ok(fd, what);
    snprintf(what, sizeof what, "%s gives 64 bytes per read", path);
    check(read(fd, a, sizeof a) == sizeof a && read(fd, b, sizeof b) == sizeof b, what, "a read was short");
    snprintf(what, sizeof what, "two reads from %s differ and are not all zero", path);
    check(memcmp(a, b, sizeof a) != 0 && !all_bytes(a, sizeof a, 0), what, "they do not");
    close(fd);
}

static void test_shm(void)
{
    struct stat st;
    check(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode), "/dev/shm is a directory", "it is not");
    char path[] = "/dev/shm/morsel-devices-XXXXXX";
    int fd = mkstemp(path);
    expect_ok(fd, "create a file in /dev/shm");
    expect_eq(write(fd, "shm", 3), 3, "write to the /dev/shm file");
    char buf[4] = {0};
    check(pread(fd, buf, 3, 0) == 3 && strcmp(buf, "shm") == 0, "read it back", "got \"%s\"", buf);
    expect_ok(unlink(path), "remove it");
    close(fd);
}

static void test_ioctl(void)
{
    char path[] = "/tmp/morsel-devices-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    struct termios t;
    struct winsize ws;
    expect_errno(ioctl(fd, TCGETS, &t), ENOTTY, "TCGETS on a regular file gives ENOTTY");
    expect_errno(ioctl(fd, TIOCGWINSZ, &ws), ENOTTY, "TIOCGWINSZ on a regular file gives ENOTTY");
    int devnull = open("/dev/null", O_RDWR);
    expect_errno(ioctl(devnull, TCGETS, &t), ENOTTY, "TCGETS on /dev/null gives ENOTTY");
    expect_errno(ioctl(9999, FIONBIO, &(int){1}), EBADF, "ioctl on a closed descriptor gives EBADF");

    int on = 1, off = 0;
    expect_ok(ioctl(fd, FIONBIO, &on), "FIONBIO on");
    check(fcntl(fd, F_GETFL) & O_NONBLOCK, "FIONBIO on sets O_NONBLOCK", "F_GETFL lacks it");
    expect_ok(ioctl(fd, FIONBIO, &off), "FIONBIO off");
    check(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "FIONBIO off clears O_NONBLOCK", "F_GETFL still has it");
    expect_ok(ioctl(devnull, FIONBIO, &on), "FIONBIO on /dev/null");
    check(fcntl(devnull, F_GETFL) & O_NONBLOCK, "FIONBIO sets O_NONBLOCK on /dev/null", "F_GETFL lacks it");
    expect_ok(ioctl(fd, FIOCLEX), "FIOCLEX");
    expect_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "FIOCLEX sets FD_CLOEXEC");
    expect_ok(ioctl(fd, FIONCLEX), "FIONCLEX");
    expect_eq(fcntl(fd, F_GETFD), 0, "FIONCLEX clears FD_CLOEXEC");
    close(devnull);
    close(fd);
}

int main(void)
{
    test_device_node("/dev/null", 1, 3);
    test_device_node("/dev/zero", 1, 5);
    test_device_node("/dev/full", 1, 7);
    test_device_node("/dev/random", 1, 8);
    test_device_node("/dev/urandom", 1, 9);
    test_null_zero_full();
    test_random("/dev/urandom");
    test_random("/dev/random");
    test_shm();
    test_ioctl();
    return finish();
}
