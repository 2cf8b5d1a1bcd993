/* files.c: the file system calls, their flags and their error cases, all
 * under a fresh directory in /tmp (the process works inside it, so every path
 * printed is relative and the output does not depend on its random name). */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static char top[64];

/* Creates NAME holding TEXT; returns 0 on success. */
static int make_file(const char *name, const char *text)
{
    int fd = openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The contents of NAME (at most 255 bytes) as a string, or "" on error. */
static const char *contents(const char *name)
{
    static char buf[256];
    buf[0] = 0;
    int fd = open(name, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    return buf;
}

/* The size of NAME, or -1. */
static long size_of(const char *name)
{
    struct stat st;
    return stat(name, &st) == 0 ? (long)st.st_size : -1;
}

static int exists(const char *name)
{
    struct stat st;
    return fstatat(AT_FDCWD, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_open(void)
{
    umask(022);
    int fd = openat(AT_FDCWD, "new", O_RDWR | O_CREAT, 0666);
    expect_ok(fd, "openat O_CREAT creates a file");
    struct stat st;
    fstat(fd, &st);
    expect_eq(st.st_mode & 07777, 0644, "the new file's mode is 0666 minus the umask 022");
    check(S_ISREG(st.st_mode), "the new file is a regular file", "mode %o", st.st_mode);
    expect_eq(fcntl(fd, F_GETFD), 0, "without O_CLOEXEC the descriptor has no FD_CLOEXEC");
    close(fd);

    expect_errno(openat(AT_FDCWD, "new", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST,
                 "O_CREAT|O_EXCL on an existing file fails with EEXIST");
    expect_errno(openat(AT_FDCWD, "missing", O_RDONLY), ENOENT, "opening a missing file fails with ENOENT");
    expect_errno(openat(AT_FDCWD, "missing/new", O_RDWR | O_CREAT, 0644), ENOENT,
                 "O_CREAT in a missing directory fails with ENOENT");
    expect_errno(openat(AT_FDCWD, "new/x", O_RDONLY), ENOTDIR, "a file used as a directory gives ENOTDIR");
    expect_errno(openat(AT_FDCWD, "new", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file gives ENOTDIR");
    expect_errno(openat(AT_FDCWD, ".", O_WRONLY), EISDIR, "opening a directory for writing gives EISDIR");
    expect_errno(openat(AT_FDCWD, "", O_RDONLY), ENOENT, "an empty path gives ENOENT");
    expect_errno(openat(9999, "new", O_RDONLY), EBADF, "openat relative to a closed descriptor gives EBADF");
    int file = open("new", O_RDONLY);
    expect_errno(openat(file, "x", O_RDONLY), ENOTDIR, "openat relative to a file descriptor gives ENOTDIR");
    close(file);
    expect_errno(openat(AT_FDCWD, ".", O_RDWR | O_CREAT | O_TMPFILE, 0644), EINVAL,
                 "O_TMPFILE together with O_CREAT gives EINVAL");

    char long_name[NAME_MAX + 2];
    memset(long_name, 'n', NAME_MAX + 1);
    long_name[NAME_MAX + 1] = 0;
    expect_errno(openat(AT_FDCWD, long_name, O_RDWR | O_CREAT, 0644), ENAMETOOLONG,
                 "a name of NAME_MAX+1 bytes gives ENAMETOOLONG");
    static char long_path[PATH_MAX + 2];
    for (int i = 0; i < PATH_MAX + 1; i++)
        long_path[i] = i % 2 ? '/' : 'd';
    expect_errno(openat(AT_FDCWD, long_path, O_RDONLY), ENAMETOOLONG, "a path of PATH_MAX+1 bytes gives ENAMETOOLONG");

    make_file("trunc", "some bytes");
    fd = openat(AT_FDCWD, "trunc", O_WRONLY | O_TRUNC);
    expect_ok(fd, "open with O_TRUNC");
    close(fd);
    expect_eq(size_of("trunc"), 0, "O_TRUNC empties the file");

    make_file("append", "abc");
    fd = openat(AT_FDCWD, "append", O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    write(fd, "def", 3);
    close(fd);
    check(strcmp(contents("append"), "abcdef") == 0, "O_APPEND writes at the end after lseek to 0", "file holds \"%s\"",
          contents("append"));

    symlinkat("new", AT_FDCWD, "link");
    expect_errno(openat(AT_FDCWD, "link", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink gives ELOOP");
    fd = openat(AT_FDCWD, "link", O_RDONLY);
    expect_ok(fd, "opening through a symlink follows it");
    close(fd);

    fd = openat(AT_FDCWD, "new", O_RDONLY | O_CLOEXEC);
    expect_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "O_CLOEXEC sets FD_CLOEXEC");
    close(fd);

    fd = openat(AT_FDCWD, "append", O_PATH);
    expect_ok(fd, "open with O_PATH");
    char c;
    expect_errno(read(fd, &c, 1), EBADF, "read from an O_PATH descriptor gives EBADF");
    expect_ok(fstat(fd, &st), "fstat of an O_PATH descriptor");
    expect_eq(st.st_size, 6, "fstat of an O_PATH descriptor gives the size");
    close(fd);
    fd = openat(AT_FDCWD, "link", O_PATH | O_NOFOLLOW);
    expect_ok(fd, "O_PATH|O_NOFOLLOW opens the symlink itself");
    fstat(fd, &st);
    check(S_ISLNK(st.st_mode), "fstat of it says symlink", "mode %o", st.st_mode);
    close(fd);

    expect_errno(close(9999), EBADF, "close of a closed descriptor gives EBADF");
}

static void test_read_write(void)
{
    int fd = open("rw", O_RDWR | O_CREAT | O_TRUNC, 0644);
    expect_eq(write(fd, "0123456789", 10), 10, "write 10 bytes");
    expect_eq(lseek(fd, 0, SEEK_CUR), 10, "the offset follows the write");
    expect_eq(lseek(fd, 2, SEEK_SET), 2, "lseek SEEK_SET");
    char buf[32] = {0};
    expect_eq(read(fd, buf, 4), 4, "read 4 bytes");
    check(memcmp(buf, "2345", 4) == 0, "read returns the bytes at the offset", "got \"%.4s\"", buf);
    expect_eq(lseek(fd, -3, SEEK_END), 7, "lseek SEEK_END");
    expect_eq(lseek(fd, 1, SEEK_CUR), 8, "lseek SEEK_CUR");
    expect_eq(read(fd, buf, 32), 2, "read stops at the end of the file");
    expect_eq(read(fd, buf, 32), 0, "read at the end of the file returns 0");
    expect_errno(lseek(fd, -1, SEEK_SET), EINVAL, "lseek to a negative offset gives EINVAL");
    expect_errno(lseek(fd, 0, 42), EINVAL, "lseek with a bad whence gives EINVAL");

    expect_eq(lseek(fd, 20, SEEK_SET), 20, "lseek past the end");
    write(fd, "x", 1);
    memset(buf, 1, sizeof buf);
    expect_eq(pread(fd, buf, 32, 8), 13, "pread across the hole");
    check(buf[0] == '8' && buf[1] == '9' && buf[2] == 0 && buf[11] == 0 && buf[12] == 'x',
          "a hole reads back as zeros", "it does not");

    expect_eq(pwrite(fd, "AB", 2, 0), 2, "pwrite at offset 0");
    expect_eq(lseek(fd, 0, SEEK_CUR), 21, "pwrite does not move the offset");
    expect_eq(pread(fd, buf, 3, 0), 3, "pread at offset 0");
    check(memcmp(buf, "AB2", 3) == 0, "pread sees the pwrite", "got \"%.3s\"", buf);
    expect_eq(lseek(fd, 0, SEEK_CUR), 21, "pread does not move the offset");
    expect_errno(pread(fd, buf, 1, -1), EINVAL, "pread at a negative offset gives EINVAL");
    expect_errno(pwrite(fd, buf, 1, -1), EINVAL, "pwrite at a negative offset gives EINVAL");

    char a[] = "one ", b[] = "two ", c[] = "three";
    struct iovec out[3] = {{a, 4}, {b, 4}, {c, 5}};
    lseek(fd, 0, SEEK_SET);
    ftruncate(fd, 0);
    expect_eq(writev(fd, out, 3), 13, "writev of 3 buffers");
    char x[5] = {0}, y[3] = {0}, z[8] = {0};
    struct iovec in[3] = {{x, 5}, {y, 3}, {z, 8}};
    lseek(fd, 0, SEEK_SET);
    expect_eq(readv(fd, in, 3), 13, "readv into 3 buffers");
    check(memcmp(x, "one t", 5) == 0 && memcmp(y, "wo ", 3) == 0 && memcmp(z, "three", 5) == 0,
          "readv fills the buffers in order", "it does not");
    expect_errno(syscall(SYS_readv, fd, in, -1), EINVAL, "readv with a negative count gives EINVAL");
    expect_errno(syscall(SYS_writev, fd, out, IOV_MAX + 1), EINVAL, "writev with more than IOV_MAX buffers gives EINVAL");
    close(fd);

    int ro = open("rw", O_RDONLY);
    expect_errno(write(ro, "x", 1), EBADF, "write to a read-only descriptor gives EBADF");
    close(ro);
    int wo = open("rw", O_WRONLY);
    expect_errno(read(wo, buf, 1), EBADF, "read from a write-only descriptor gives EBADF");
    close(wo);
    expect_errno(read(wo, buf, 1), EBADF, "read from a closed descriptor gives EBADF");
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    expect_errno(read(dir, buf, 1), EISDIR, "read from a directory gives EISDIR");
    close(dir);
}

static void test_stat(void)
{
    make_file("st", "12345");
    struct stat st, lst, fst;
    expect_ok(fstatat(AT_FDCWD, "st", &st, 0), "newfstatat of a file");
    check(S_ISREG(st.st_mode) && st.st_size == 5 && st.st_nlink == 1, "newfstatat gives type, size and link count",
          "mode %o size %ld nlink %ld", st.st_mode, (long)st.st_size, (long)st.st_nlink);
    check(st.st_blksize > 0 && st.st_uid == getuid() && st.st_gid == getgid(),
          "newfstatat gives the block size and the owner", "it does not");
    int fd = open("st", O_RDONLY);
    fstat(fd, &fst);
    check(fst.st_ino == st.st_ino && fst.st_dev == st.st_dev, "fstat and newfstatat agree on device and inode",
          "they differ");
    struct stat empty;
    expect_ok(fstatat(fd, "", &empty, AT_EMPTY_PATH), "newfstatat with AT_EMPTY_PATH");
    expect_eq((long)empty.st_ino, (long)st.st_ino, "AT_EMPTY_PATH describes the descriptor's file");
    close(fd);

    symlinkat("st", AT_FDCWD, "st-link");
    fstatat(AT_FDCWD, "st-link", &st, 0);
    fstatat(AT_FDCWD, "st-link", &lst, AT_SYMLINK_NOFOLLOW);
    check(S_ISREG(st.st_mode), "newfstatat follows a symlink", "mode %o", st.st_mode);
    check(S_ISLNK(lst.st_mode) && lst.st_size == 2, "AT_SYMLINK_NOFOLLOW describes the symlink (size = target length)",
          "mode %o size %ld", lst.st_mode, (long)lst.st_size);
    fstatat(AT_FDCWD, ".", &st, 0);
    check(S_ISDIR(st.st_mode), "newfstatat of a directory says directory", "mode %o", st.st_mode);
    expect_errno(fstatat(AT_FDCWD, "nothing", &st, 0), ENOENT, "newfstatat of a missing file gives ENOENT");
    expect_errno(fstatat(AT_FDCWD, "st", &st, 0x40000000), EINVAL, "newfstatat with bad flags gives EINVAL");
    expect_errno(fstat(9999, &st), EBADF, "fstat of a closed descriptor gives EBADF");

    struct statx sx;
    expect_ok(statx(AT_FDCWD, "st", 0, STATX_BASIC_STATS, &sx), "statx of a file");
    check((sx.stx_mask & STATX_SIZE) && sx.stx_size == 5 && S_ISREG(sx.stx_mode), "statx gives size and type",
          "mask %x size %lld", sx.stx_mask, (long long)sx.stx_size);
    expect_errno(statx(AT_FDCWD, "st", 0x40000000, STATX_BASIC_STATS, &sx), EINVAL, "statx with bad flags gives EINVAL");
    expect_errno(statx(AT_FDCWD, "nothing", 0, STATX_BASIC_STATS, &sx), ENOENT, "statx of a missing file gives ENOENT");
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void test_getdents(void)
{
    mkdirat(AT_FDCWD, "list", 0755);
    make_file("list/a", "");
    make_file("list/b", "");
    mkdirat(AT_FDCWD, "list/c", 0755);
    int fd = open("list", O_RDONLY | O_DIRECTORY);
    char buf[1024];
    int seen = 0, types_ok = 1, entries = 0;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            const char *names[] = {".", "..", "a", "b", "c"};
            const unsigned char types[] = {DT_DIR, DT_DIR, DT_REG, DT_REG, DT_DIR};
            for (int i = 0; i < 5; i++)
                if (strcmp(d->d_name, names[i]) == 0) {
                    seen |= 1 << i;
                    types_ok &= d->d_type == types[i];
                }
            entries++;
            off += d->d_reclen;
        }
    }
    expect_eq(n, 0, "getdents64 reads to the end");
    check(seen == 31 && entries == 5, "getdents64 lists . .. a b c", "%d entries, seen mask %d", entries, seen);
    check(types_ok, "getdents64 gives each entry's type", "a type is wrong");
    expect_ok(lseek(fd, 0, SEEK_SET), "lseek rewinds a directory");
    expect_errno(syscall(SYS_getdents64, fd, buf, 1), EINVAL, "getdents64 into a 1-byte buffer gives EINVAL");
    close(fd);
    fd = open("list/a", O_RDONLY);
    expect_errno(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR, "getdents64 on a file gives ENOTDIR");
    close(fd);
    expect_errno(syscall(SYS_getdents64, 9999, buf, sizeof buf), EBADF, "getdents64 on a closed descriptor gives EBADF");
}

static void test_links(void)
{
    make_file("target", "t");
    expect_ok(symlinkat("target", AT_FDCWD, "sym"), "symlinkat");
    expect_errno(symlinkat("target", AT_FDCWD, "sym"), EEXIST, "symlinkat onto an existing name gives EEXIST");
    char buf[64];
    long n = readlinkat(AT_FDCWD, "sym", buf, sizeof buf);
    check(n == 6 && memcmp(buf, "target", 6) == 0, "readlinkat returns the target without a NUL", "returned %ld", n);
    expect_eq(readlinkat(AT_FDCWD, "sym", buf, 3), 3, "readlinkat truncates to the buffer size");
    expect_errno(readlinkat(AT_FDCWD, "target", buf, sizeof buf), EINVAL, "readlinkat of a regular file gives EINVAL");
    expect_errno(readlinkat(AT_FDCWD, "sym", buf, 0), EINVAL, "readlinkat with size 0 gives EINVAL");
    expect_errno(readlinkat(AT_FDCWD, "nothing", buf, sizeof buf), ENOENT, "readlinkat of a missing name gives ENOENT");
    symlinkat("dangling-target", AT_FDCWD, "dangling");
    expect_errno(open("dangling", O_RDONLY), ENOENT, "opening a dangling symlink gives ENOENT");
    symlinkat("loop", AT_FDCWD, "loop");
    expect_errno(open("loop", O_RDONLY), ELOOP, "opening a symlink to itself gives ELOOP");

    expect_ok(linkat(AT_FDCWD, "target", AT_FDCWD, "hard", 0), "linkat");
    struct stat a, b;
    stat("target", &a);
    stat("hard", &b);
    check(a.st_ino == b.st_ino && a.st_nlink == 2, "a hard link shares the inode and counts 2 links", "nlink %ld",
          (long)a.st_nlink);
    expect_errno(linkat(AT_FDCWD, "target", AT_FDCWD, "hard", 0), EEXIST, "linkat onto an existing name gives EEXIST");
    expect_errno(linkat(AT_FDCWD, ".", AT_FDCWD, "dirlink", 0), EPERM, "linkat of a directory gives EPERM");
    expect_errno(linkat(AT_FDCWD, "nothing", AT_FDCWD, "x", 0), ENOENT, "linkat of a missing file gives ENOENT");
    expect_ok(linkat(AT_FDCWD, "sym", AT_FDCWD, "sym-hard", 0), "linkat of a symlink without AT_SYMLINK_FOLLOW");
    fstatat(AT_FDCWD, "sym-hard", &b, AT_SYMLINK_NOFOLLOW);
    check(S_ISLNK(b.st_mode), "it links the symlink itself", "mode %o", b.st_mode);
    expect_ok(linkat(AT_FDCWD, "sym", AT_FDCWD, "sym-follow", AT_SYMLINK_FOLLOW), "linkat with AT_SYMLINK_FOLLOW");
    fstatat(AT_FDCWD, "sym-follow", &b, AT_SYMLINK_NOFOLLOW);
    check(S_ISREG(b.st_mode) && b.st_ino == a.st_ino, "AT_SYMLINK_FOLLOW links the target", "it does not");

    expect_ok(unlinkat(AT_FDCWD, "hard", 0), "unlinkat a hard link");
    stat("target", &a);
    expect_eq((long)a.st_nlink, 2, "the link count drops (target and sym-follow remain)");
    check(!exists("hard"), "the unlinked name is gone", "it still exists");
    int fd = open("target", O_RDONLY);
    unlinkat(AT_FDCWD, "target", 0);
    unlinkat(AT_FDCWD, "sym-follow", 0);
    char c = 0;
    check(read(fd, &c, 1) == 1 && c == 't', "an open file stays readable after its last name is removed",
          "it is not");
    fstat(fd, &a);
    expect_eq((long)a.st_nlink, 0, "its link count is 0");
    close(fd);
}

static void test_directories(void)
{
    umask(022);
    expect_ok(mkdirat(AT_FDCWD, "d", 0777), "mkdirat");
    struct stat st;
    stat("d", &st);
    check(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755, "the new directory has mode 0777 minus the umask",
          "mode %o", st.st_mode);
    expect_errno(mkdirat(AT_FDCWD, "d", 0755), EEXIST, "mkdirat of an existing name gives EEXIST");
    expect_errno(mkdirat(AT_FDCWD, "missing/d", 0755), ENOENT, "mkdirat in a missing directory gives ENOENT");
    make_file("d/f", "f");
    expect_errno(mkdirat(AT_FDCWD, "d/f/x", 0755), ENOTDIR, "mkdirat under a file gives ENOTDIR");
    expect_errno(unlinkat(AT_FDCWD, "d", 0), EISDIR, "unlinkat of a directory without AT_REMOVEDIR gives EISDIR");
    expect_errno(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR), ENOTEMPTY, "removing a non-empty directory gives ENOTEMPTY");
    expect_errno(unlinkat(AT_FDCWD, "d/f", AT_REMOVEDIR), ENOTDIR, "AT_REMOVEDIR on a file gives ENOTDIR");
    expect_errno(unlinkat(AT_FDCWD, "d/none", 0), ENOENT, "unlinkat of a missing name gives ENOENT");
    expect_errno(unlinkat(AT_FDCWD, "d/f", 0x1234), EINVAL, "unlinkat with bad flags gives EINVAL");
    expect_errno(unlinkat(AT_FDCWD, ".", AT_REMOVEDIR), EINVAL, "removing \".\" gives EINVAL");
    unlinkat(AT_FDCWD, "d/f", 0);
    expect_ok(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR), "unlinkat AT_REMOVEDIR of an empty directory");
    check(!exists("d"), "the directory is gone", "it still exists");

    make_file("r1", "one");
    make_file("r2", "two");
    expect_ok(renameat(AT_FDCWD, "r1", AT_FDCWD, "r3"), "renameat");
    check(!exists("r1") && strcmp(contents("r3"), "one") == 0, "renameat moves the file", "it does not");
    expect_ok(renameat2(AT_FDCWD, "r3", AT_FDCWD, "r2", 0), "renameat2 over an existing file replaces it");
    check(!exists("r3") && strcmp(contents("r2"), "one") == 0, "the old target is replaced", "it is not");
    make_file("r4", "four");
    expect_errno(renameat2(AT_FDCWD, "r4", AT_FDCWD, "r2", RENAME_NOREPLACE), EEXIST,
                 "RENAME_NOREPLACE onto an existing name gives EEXIST");
    expect_ok(renameat2(AT_FDCWD, "r4", AT_FDCWD, "r2", RENAME_EXCHANGE), "RENAME_EXCHANGE");
    check(strcmp(contents("r2"), "four") == 0 && strcmp(contents("r4"), "one") == 0, "RENAME_EXCHANGE swaps the two",
          "they were not swapped");
    expect_errno(renameat2(AT_FDCWD, "r4", AT_FDCWD, "r2", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL,
                 "RENAME_EXCHANGE|RENAME_NOREPLACE gives EINVAL");
    mkdirat(AT_FDCWD, "rd", 0755);
    mkdirat(AT_FDCWD, "rd/sub", 0755);
    expect_errno(renameat(AT_FDCWD, "rd", AT_FDCWD, "r2"), ENOTDIR, "renaming a directory onto a file gives ENOTDIR");
    expect_errno(renameat(AT_FDCWD, "r2", AT_FDCWD, "rd"), EISDIR, "renaming a file onto a directory gives EISDIR");
    expect_errno(renameat(AT_FDCWD, "rd", AT_FDCWD, "rd/sub/x"), EINVAL,
                 "renaming a directory into itself gives EINVAL");
    make_file("rd/sub/f", "");
    mkdirat(AT_FDCWD, "rd2", 0755);
    expect_errno(renameat(AT_FDCWD, "rd2", AT_FDCWD, "rd/sub"), ENOTEMPTY,
                 "renaming a directory onto a non-empty one gives ENOTEMPTY");
    expect_errno(renameat(AT_FDCWD, "nothing", AT_FDCWD, "x"), ENOENT, "renaming a missing name gives ENOENT");
}

static void test_sizes_and_sync(void)
{
    int fd = open("sz", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "abcdef", 6);
    expect_ok(ftruncate(fd, 4096), "ftruncate grows a file");
    char buf[16];
    pread(fd, buf, 4, 4092);
    check(size_of("sz") == 4096 && !memcmp(buf, "\0\0\0\0", 4), "the grown part reads as zeros", "it does not");
    expect_ok(ftruncate(fd, 3), "ftruncate shrinks a file");
    expect_eq(pread(fd, buf, 16, 0), 3, "reads stop at the new size");
    expect_errno(ftruncate(fd, -1), EINVAL, "ftruncate to a negative size gives EINVAL");
    int ro = open("sz", O_RDONLY);
    expect_errno(ftruncate(ro, 0), EINVAL, "ftruncate of a read-only descriptor gives EINVAL");
    expect_errno(truncate("nothing", 0), ENOENT, "truncate of a missing file gives ENOENT");
    expect_ok(truncate("sz", 10), "truncate by name");
    expect_eq(size_of("sz"), 10, "truncate sets the size");

    expect_ok(fallocate(fd, 0, 0, 8192), "fallocate");
    expect_eq(size_of("sz"), 8192, "fallocate extends the size");
    expect_ok(fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 4096), "fallocate FALLOC_FL_KEEP_SIZE");
    expect_eq(size_of("sz"), 8192, "FALLOC_FL_KEEP_SIZE keeps the size");
    expect_errno(fallocate(fd, 0, 0, 0), EINVAL, "fallocate of length 0 gives EINVAL");
    expect_errno(fallocate(ro, 0, 0, 4096), EBADF, "fallocate of a read-only descriptor gives EBADF");

    expect_ok(fsync(fd), "fsync");
    expect_ok(fdatasync(fd), "fdatasync");
    expect_errno(fsync(9999), EBADF, "fsync of a closed descriptor gives EBADF");
    sync();
    expect_ok(fsync(ro), "fsync of a read-only descriptor");
    close(ro);

    int out = open("copy", O_RDWR | O_CREAT | O_TRUNC, 0644);
    pwrite(fd, "0123456789", 10, 0);
    off_t offset = 2;
    expect_eq(sendfile(out, fd, &offset, 5), 5, "sendfile copies 5 bytes between files");
    check(offset == 7 && strcmp(contents("copy"), "23456") == 0, "sendfile copies from the offset and advances it",
          "offset %ld", (long)offset);
    expect_errno(sendfile(out, 9999, NULL, 5), EBADF, "sendfile from a closed descriptor gives EBADF");
    close(out);
    close(fd);
}

static void test_attributes(void)
{
    int fd = open("attr", O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    expect_ok(fchmod(fd, 0600), "fchmod");
    fstat(fd, &st);
    expect_eq(st.st_mode & 07777, 0600, "fchmod sets the mode");
    expect_ok(fchmodat(AT_FDCWD, "attr", 0640, 0), "fchmodat");
    stat("attr", &st);
    expect_eq(st.st_mode & 07777, 0640, "fchmodat sets the mode");
    expect_errno(fchmod(9999, 0600), EBADF, "fchmod of a closed descriptor gives EBADF");
    expect_errno(fchmodat(AT_FDCWD, "nothing", 0600, 0), ENOENT, "fchmodat of a missing file gives ENOENT");

    expect_ok(fchown(fd, getuid(), getgid()), "fchown to the caller's own ids");
    expect_ok(fchown(fd, -1, -1), "fchown with -1, -1 changes nothing");
    fstat(fd, &st);
    check(st.st_uid == getuid() && st.st_gid == getgid(), "the file keeps the caller's ids", "it does not");
    expect_ok(fchownat(AT_FDCWD, "attr", getuid(), getgid(), AT_SYMLINK_NOFOLLOW), "fchownat");
    expect_errno(fchown(9999, 0, 0), EBADF, "fchown of a closed descriptor gives EBADF");

    struct timespec times[2] = {{1000000000, 500}, {1200000000, 999999999}};
    expect_ok(utimensat(AT_FDCWD, "attr", times, 0), "utimensat with explicit times");
    stat("attr", &st);
    check(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 500 && st.st_mtim.tv_sec == 1200000000 &&
              st.st_mtim.tv_nsec == 999999999,
          "utimensat sets access and modification times to the nanosecond", "atime %ld.%ld mtime %ld.%ld",
          (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1300000000, 0}};
    utimensat(AT_FDCWD, "attr", omit, 0);
    stat("attr", &st);
    check(st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1300000000, "UTIME_OMIT keeps that time",
          "atime %ld mtime %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    utimensat(AT_FDCWD, "attr", now, 0);
    stat("attr", &st);
    check(st.st_mtim.tv_sec > 1577836800, "UTIME_NOW sets the current time", "mtime %ld", (long)st.st_mtim.tv_sec);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    expect_errno(utimensat(AT_FDCWD, "attr", bad, 0), EINVAL, "utimensat with tv_nsec of 10^9 gives EINVAL");
    symlinkat("attr", AT_FDCWD, "attr-link");
    utimensat(AT_FDCWD, "attr-link", times, AT_SYMLINK_NOFOLLOW);
    struct stat lst;
    fstatat(AT_FDCWD, "attr-link", &lst, AT_SYMLINK_NOFOLLOW);
    stat("attr", &st);
    check(lst.st_mtim.tv_sec == 1200000000 && st.st_mtim.tv_sec != 1200000000,
          "utimensat AT_SYMLINK_NOFOLLOW sets the symlink's own times", "it does not");
    expect_errno(utimensat(AT_FDCWD, "nothing", times, 0), ENOENT, "utimensat of a missing file gives ENOENT");
    close(fd);

    expect_ok(faccessat(AT_FDCWD, "attr", F_OK, 0), "faccessat F_OK of an existing file");
    expect_ok(faccessat(AT_FDCWD, "attr", R_OK | W_OK, 0), "faccessat R_OK|W_OK of the owner's file");
    expect_errno(faccessat(AT_FDCWD, "nothing", F_OK, 0), ENOENT, "faccessat of a missing file gives ENOENT");
    expect_errno(syscall(SYS_faccessat, AT_FDCWD, "attr", 0x100), EINVAL, "faccessat with a bad mode gives EINVAL");
    expect_ok(syscall(SYS_faccessat2, AT_FDCWD, "attr", R_OK, AT_EACCESS), "faccessat2 with AT_EACCESS");
    expect_errno(syscall(SYS_faccessat2, AT_FDCWD, "attr", R_OK, 0x1), EINVAL, "faccessat2 with bad flags gives EINVAL");

    mode_t old = umask(077);
    expect_eq(old, 022, "umask returns the previous mask");
    expect_eq(umask(022), 077, "umask returns the mask just set");
}

static void test_cwd(void)
{
    char buf[PATH_MAX];
    check(getcwd(buf, sizeof buf) && strcmp(buf, top) == 0, "getcwd is the test directory", "it is not");
    expect_errno(syscall(SYS_getcwd, buf, 4), ERANGE, "getcwd into a too small buffer gives ERANGE");
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    expect_eq(n, (long)strlen(top) + 1, "the getcwd system call returns the length with the NUL");
    int here = open(".", O_RDONLY | O_DIRECTORY);
    mkdirat(AT_FDCWD, "sub", 0755);
    expect_ok(chdir("sub"), "chdir to a subdirectory");
    getcwd(buf, sizeof buf);
    size_t len = strlen(buf);
    check(len > 4 && strcmp(buf + len - 4, "/sub") == 0 && strncmp(buf, top, strlen(top)) == 0,
          "getcwd follows chdir", "it does not");
    expect_ok(chdir(".."), "chdir ..");
    expect_errno(chdir("missing"), ENOENT, "chdir to a missing directory gives ENOENT");
    make_file("plain", "");
    expect_errno(chdir("plain"), ENOTDIR, "chdir to a file gives ENOTDIR");
    chdir("sub");
    expect_ok(fchdir(here), "fchdir");
    check(getcwd(buf, sizeof buf) && strcmp(buf, top) == 0, "fchdir returns to the directory", "it does not");
    int file = open("plain", O_RDONLY);
    expect_errno(fchdir(file), ENOTDIR, "fchdir to a file gives ENOTDIR");
    expect_errno(fchdir(9999), EBADF, "fchdir to a closed descriptor gives EBADF");
    close(file);
    close(here);
}

static void test_descriptors(void)
{
    int fd = open("fds", O_RDWR | O_CREAT | O_TRUNC, 0644);
    int low = dup(fd);
    expect_ok(low, "dup");
    close(low);
    expect_eq(dup(fd), low, "dup returns the lowest free descriptor");
    write(fd, "abc", 3);
    expect_eq(lseek(low, 0, SEEK_CUR), 3, "a dup shares the file offset");
    close(low);
    expect_errno(dup(9999), EBADF, "dup of a closed descriptor gives EBADF");

    expect_eq(dup3(fd, 50, O_CLOEXEC), 50, "dup3 to descriptor 50");
    expect_eq(fcntl(50, F_GETFD), FD_CLOEXEC, "dup3 O_CLOEXEC sets FD_CLOEXEC");
    expect_errno(dup3(fd, fd, 0), EINVAL, "dup3 onto itself gives EINVAL");
    expect_errno(dup3(fd, 51, 0x4), EINVAL, "dup3 with bad flags gives EINVAL");
    expect_errno(dup3(fd, 1 << 30, 0), EBADF, "dup3 beyond the descriptor limit gives EBADF");
    close(50);

    int high = fcntl(fd, F_DUPFD, 100);
    check(high >= 100, "F_DUPFD returns a descriptor at or above the minimum", "returned %d", high);
    expect_eq(fcntl(high, F_GETFD), 0, "F_DUPFD does not set FD_CLOEXEC");
    close(high);
    high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    expect_eq(fcntl(high, F_GETFD), FD_CLOEXEC, "F_DUPFD_CLOEXEC sets FD_CLOEXEC");
    expect_ok(fcntl(high, F_SETFD, 0), "F_SETFD");
    expect_eq(fcntl(high, F_GETFD), 0, "F_SETFD clears FD_CLOEXEC");
    close(high);

    int flags = fcntl(fd, F_GETFL);
    expect_eq(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDWR, "F_GETFL gives the access mode");
    expect_ok(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK | O_RDONLY), "F_SETFL O_APPEND|O_NONBLOCK");
    flags = fcntl(fd, F_GETFL);
    expect_eq(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_RDWR | O_APPEND | O_NONBLOCK,
              "F_SETFL sets the status flags but not the access mode");
    expect_errno(fcntl(fd, 12345), EINVAL, "fcntl with an unknown command gives EINVAL");
    expect_errno(fcntl(9999, F_GETFD), EBADF, "fcntl of a closed descriptor gives EBADF");
    expect_errno(fcntl(fd, F_DUPFD, -1), EINVAL, "F_DUPFD with a negative minimum gives EINVAL");
    close(fd);
}

static void test_statfs(void)
{
    struct statfs sf;
    expect_ok(statfs(".", &sf), "statfs");
    check(sf.f_bsize > 0 && sf.f_namelen >= 255, "statfs gives a block size and a name length", "bsize %ld namelen %ld",
          (long)sf.f_bsize, (long)sf.f_namelen);
    int fd = open(".", O_RDONLY);
    struct statfs fsf;
    expect_ok(fstatfs(fd, &fsf), "fstatfs");
    check(fsf.f_type == sf.f_type, "fstatfs and statfs agree on the type", "they differ");
    close(fd);
    expect_errno(statfs("nothing", &sf), ENOENT, "statfs of a missing path gives ENOENT");
    expect_errno(fstatfs(9999, &sf), EBADF, "fstatfs of a closed descriptor gives EBADF");
}

/* Removes the tree under the current directory's NAME. */
static void remove_tree(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) {
        unlinkat(dirfd, name, 0);
        return;
    }
    DIR *d = fdopendir(fd);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove_tree(fd, e->d_name);
    closedir(d);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

int main(void)
{
    strcpy(top, "/tmp/morsel-files-XXXXXX");
    if (!mkdtemp(top) || chdir(top) != 0) {
        check(0, "make and enter a fresh directory in /tmp", "failed with %s", errno_name(errno));
        return finish();
    }
    test_open();
    test_read_write();
    test_stat();
    test_getdents();
    test_links();
    test_directories();
    test_sizes_and_sync();
    test_attributes();
    test_cwd();
    test_descriptors();
    test_statfs();
    chdir("/");
    remove_tree(AT_FDCWD, top);
    check(!exists(top), "remove the test directory", "it is still there");
    return finish();
}
