/* mem.c: brk, mmap (anonymous, file-backed, private, shared, fixed), munmap,
 * mprotect, mremap and madvise, with their error cases. Signals are not used:
 * whether the kernel may touch a page is observed through write(2) to a pipe
 * (the kernel reads the page: EFAULT if it cannot) and read(2) into it (the
 * kernel writes it), and whether a page is mapped through mincore(2). */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long page;
static int pipe_fds[2];
static int zero_fd;

/* Whether all N bytes at P equal V. */
static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* The byte at offset I of the test file. */
static unsigned char file_byte(size_t i)
{
    return (unsigned char)(i * 7 % 251 + 1);
}

/* Whether the kernel can read one byte at P: write(2) from it into a pipe. */
static int kernel_can_read(const void *p)
{
    if (write(pipe_fds[1], p, 1) != 1)
        return 0;
    char c;
    return read(pipe_fds[0], &c, 1) == 1;
}

/* Whether the kernel can write one byte at P: read(2) /dev/zero into it. */
static int kernel_can_write(void *p)
{
    return read(zero_fd, p, 1) == 1;
}

/* Whether the page at P is mapped, by mincore(2). */
static int is_mapped(void *p)
{
    unsigned char vec;
    return mincore(p, page, &vec) == 0;
}

static unsigned char *map_anonymous(size_t len, int prot, int flags)
{
    return mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
}

static void test_brk(void)
{
    /* All brk calls first, results checked afterwards: printing may make
     * malloc move the break behind our back. */
    uintptr_t start = (uintptr_t)syscall(SYS_brk, 0);
    uintptr_t grown = (uintptr_t)syscall(SYS_brk, start + 16 * page);
    unsigned char *fresh = (unsigned char *)((start + page - 1) & ~(uintptr_t)(page - 1));
    size_t fresh_len = start + 16 * page - (uintptr_t)fresh;
    int zero_filled = grown == start + 16 * page && all_bytes(fresh, fresh_len, 0);
    if (grown == start + 16 * page)
        memset(fresh, 0x5a, fresh_len);
    uintptr_t shrunk = (uintptr_t)syscall(SYS_brk, start);
    uintptr_t regrown = (uintptr_t)syscall(SYS_brk, start + 16 * page);
    int zero_again = regrown == start + 16 * page && all_bytes(fresh, fresh_len, 0);
    uintptr_t below = (uintptr_t)syscall(SYS_brk, page);
    uintptr_t restored = (uintptr_t)syscall(SYS_brk, start);

    check(start != 0, "brk(0) returns the current break", "returned 0");
    check(grown == start + 16 * page, "brk grows the break by 16 pages", "returned %+ld from the old break",
          (long)(grown - start));
    check(zero_filled, "new brk memory is zero-filled", "it is not");
    check(shrunk == start, "brk shrinks the break", "returned %+ld from the old break", (long)(shrunk - start));
    check(zero_again, "brk memory given back and grown again is zero-filled", "it is not");
    check(below == regrown, "brk below the program's data fails and returns the current break",
          "returned %+ld from the current break", (long)(below - regrown));
    check(restored == start, "brk restores the original break", "returned %+ld", (long)(restored - start));
}

static void test_anonymous(void)
{
    unsigned char *a = map_anonymous(4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (expect_ok((long)a, "mmap anonymous private 4 pages") == -1)
        return;
    check((uintptr_t)a % page == 0, "mmap returns a page-aligned address", "it does not");
    check(all_bytes(a, 4 * page, 0), "anonymous memory is zero-filled", "it is not");
    memset(a, 0x11, 4 * page);
    check(all_bytes(a, 4 * page, 0x11), "anonymous memory is writable", "written bytes read back differently");

    unsigned char *middle = mmap(a + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(middle == a + page, "MAP_FIXED maps at exactly the given address", "mapped elsewhere or failed");
    check(all_bytes(a + page, page, 0), "MAP_FIXED replaces the old page with a zero page", "old contents remain");
    check(all_bytes(a, page, 0x11) && all_bytes(a + 2 * page, 2 * page, 0x11),
          "MAP_FIXED leaves the neighbouring pages alone", "they changed");

    /* Linux fails with EEXIST; qemu-user 7.2 treats the address as a hint
     * and maps elsewhere. Either way the mapping must not be replaced. */
    unsigned char *noreplace = mmap(a, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check(noreplace != a && all_bytes(a, page, 0x11), "MAP_FIXED_NOREPLACE over a mapping does not replace it",
          "it did");
    if (noreplace != MAP_FAILED && noreplace != a)
        munmap(noreplace, page);

    expect_ok(munmap(a + 2 * page, page), "munmap of one page inside a mapping");
    check(!is_mapped(a + 2 * page), "the unmapped page is gone (mincore)", "mincore says it is mapped");
    check(!kernel_can_read(a + 2 * page), "the kernel cannot read the unmapped page", "write(2) from it succeeded");
    check(is_mapped(a) && is_mapped(a + page) && is_mapped(a + 3 * page), "the pages around the hole stay mapped",
          "mincore says one is gone");
    check(all_bytes(a + 3 * page, page, 0x11), "the page after the hole keeps its contents", "it changed");

    noreplace = mmap(a + 2 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                     -1, 0);
    check(noreplace == a + 2 * page, "MAP_FIXED_NOREPLACE maps into a free hole", "mapped elsewhere or failed");
    expect_ok(munmap(a, 4 * page), "munmap of a range made of several mappings");
    check(!is_mapped(a) && !is_mapped(a + 3 * page), "munmap removes every page of the range", "a page is left");
    expect_ok(munmap(a, 4 * page), "munmap of an unmapped range succeeds");

    unsigned char *shared = map_anonymous(2 * page, PROT_READ | PROT_WRITE, MAP_SHARED);
    if (expect_ok((long)shared, "mmap anonymous shared") != -1) {
        check(all_bytes(shared, 2 * page, 0), "shared anonymous memory is zero-filled", "it is not");
        memset(shared, 0x22, 2 * page);
        check(all_bytes(shared, 2 * page, 0x22), "shared anonymous memory is writable", "it is not");
        munmap(shared, 2 * page);
    }

    size_t big = (size_t)1 << 30;
    unsigned char *reserve = map_anonymous(big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE);
    if (expect_ok((long)reserve, "mmap 1 GiB with MAP_NORESERVE") != -1) {
        reserve[0] = 1;
        reserve[big - 1] = 2;
        check(reserve[0] == 1 && reserve[big - 1] == 2 && reserve[big / 2] == 0,
              "the first and last pages of the 1 GiB mapping are usable", "they are not");
        munmap(reserve, big);
    }

    unsigned char *stack = map_anonymous(16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_STACK);
    if (expect_ok((long)stack, "mmap with MAP_STACK") != -1) {
        stack[16 * page - 1] = 3;
        check(stack[16 * page - 1] == 3, "MAP_STACK memory is writable", "it is not");
        munmap(stack, 16 * page);
    }

    expect_errno((long)map_anonymous(0, PROT_READ, MAP_PRIVATE), EINVAL, "mmap of length 0 fails with EINVAL");
    expect_errno((long)mmap(NULL, page, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL,
                 "mmap without MAP_PRIVATE or MAP_SHARED fails with EINVAL");
    expect_errno((long)mmap((void *)(uintptr_t)(page + 1), page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                            -1, 0),
                 EINVAL, "MAP_FIXED at an unaligned address fails with EINVAL");
    expect_errno(munmap((void *)(uintptr_t)(page + 1), page), EINVAL, "munmap of an unaligned address fails with EINVAL");
    expect_errno(munmap((void *)(uintptr_t)page, 0), EINVAL, "munmap of length 0 fails with EINVAL");
}

static void test_guard_pages(void)
{
    unsigned char *g = map_anonymous(3 * page, PROT_NONE, MAP_PRIVATE);
    if (expect_ok((long)g, "mmap PROT_NONE 3 pages") == -1)
        return;
    check(!kernel_can_read(g), "the kernel cannot read a PROT_NONE page", "write(2) from it succeeded");
    expect_ok(mprotect(g + page, page, PROT_READ | PROT_WRITE), "mprotect the middle page read-write");
    g[page] = 7;
    check(kernel_can_read(g + page) && kernel_can_write(g + page), "the middle page is usable",
          "the kernel cannot use it");
    check(!kernel_can_read(g) && !kernel_can_read(g + 2 * page), "the guard pages around it stay inaccessible",
          "the kernel could read one");
    munmap(g, 3 * page);
}

static void test_mprotect(void)
{
    unsigned char *p = map_anonymous(2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (expect_ok((long)p, "mmap 2 pages for mprotect") == -1)
        return;
    memset(p, 0x33, 2 * page);
    expect_ok(mprotect(p, page, PROT_READ), "mprotect the first page read-only");
    check(all_bytes(p, page, 0x33), "a read-only page keeps its contents", "they changed");
    check(kernel_can_read(p), "the kernel can read a read-only page", "write(2) from it failed");
    check(!kernel_can_write(p), "the kernel cannot write a read-only page", "read(2) into it succeeded");
    check(kernel_can_write(p + page), "the second page stays writable", "read(2) into it failed");
    expect_ok(mprotect(p, page, PROT_READ | PROT_WRITE), "mprotect the page read-write again");
    p[0] = 0x44;
    check(p[0] == 0x44 && kernel_can_write(p), "the page is writable again", "it is not");
    expect_errno(mprotect(p + 1, page, PROT_READ), EINVAL, "mprotect of an unaligned address fails with EINVAL");
    expect_errno(mprotect(p, page, 0x100), EINVAL, "mprotect with unknown protection bits fails with EINVAL");
    munmap(p, 2 * page);
    expect_errno(mprotect(p, page, PROT_READ), ENOMEM, "mprotect of an unmapped range fails with ENOMEM");
}

static void test_mremap(void)
{
    unsigned char *p = map_anonymous(page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (expect_ok((long)p, "mmap 1 page for mremap") == -1)
        return;
    memset(p, 0x55, page);
    unsigned char *q = mremap(p, page, 4 * page, MREMAP_MAYMOVE);
    if (expect_ok((long)q, "mremap grows 1 page to 4 with MREMAP_MAYMOVE") == -1)
        return;
    check(all_bytes(q, page, 0x55), "mremap keeps the contents", "they changed");
    check(all_bytes(q + page, 3 * page, 0), "the grown part is zero-filled", "it is not");
    unsigned char *r = mremap(q, 4 * page, 2 * page, 0);
    check(r == q, "mremap shrinks in place", "it moved or failed");
    check(!is_mapped(q + 2 * page), "the pages cut off by shrinking are unmapped", "mincore says mapped");

    /* q's second page is followed by a mapping: it cannot grow in place. */
    void *blocker = mmap(q + 2 * page, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blocker == q + 2 * page)
        expect_errno((long)mremap(q, 2 * page, 3 * page, 0), ENOMEM,
                     "mremap cannot grow in place into a mapping: ENOMEM");
    else
        check(0, "mremap cannot grow in place into a mapping: ENOMEM", "could not map the blocking page");

    unsigned char *target = map_anonymous(2 * page, PROT_READ, MAP_PRIVATE);
    unsigned char *moved = mremap(q, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    check(moved == target, "mremap with MREMAP_FIXED moves onto the given address", "it did not");
    check(moved == target && all_bytes(moved, page, 0x55), "the moved mapping keeps its contents and protection",
          "it does not");
    check(!is_mapped(q), "the old address is unmapped after the move", "mincore says mapped");
    expect_errno((long)mremap(target, page, 2 * page, 0x80), EINVAL, "mremap with unknown flags fails with EINVAL");
    expect_errno((long)mremap(target + 1, page, 2 * page, MREMAP_MAYMOVE), EINVAL,
                 "mremap of an unaligned address fails with EINVAL");
    expect_errno((long)mremap(target, page, page, MREMAP_FIXED, q), EINVAL,
                 "MREMAP_FIXED without MREMAP_MAYMOVE fails with EINVAL");
    munmap(target, 2 * page);
    munmap(blocker, page);
}

/* Not checked because qemu-user 7.2, the reference, accepts them where Linux
 * fails: madvise with an unknown advice (EINVAL) and of an unmapped range
 * (ENOMEM). */
static void test_madvise(void)
{
    unsigned char *p = map_anonymous(2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (expect_ok((long)p, "mmap 2 pages for madvise") == -1)
        return;
    memset(p, 0x66, 2 * page);
    expect_ok(madvise(p, page, MADV_DONTNEED), "madvise MADV_DONTNEED");
    check(all_bytes(p, page, 0), "MADV_DONTNEED zero-fills private anonymous memory", "old contents remain");
    check(all_bytes(p + page, page, 0x66), "MADV_DONTNEED leaves the rest alone", "the next page changed");
    expect_ok(madvise(p + page, page, MADV_FREE), "madvise MADV_FREE");
    expect_ok(madvise(p, 2 * page, MADV_WILLNEED), "madvise MADV_WILLNEED");
    expect_errno(madvise(p + 1, page, MADV_DONTNEED), EINVAL, "madvise of an unaligned address fails with EINVAL");
    munmap(p, 2 * page);
}

static void test_file_mappings(void)
{
    char path[] = "/tmp/morsel-mem-XXXXXX";
    int fd = mkstemp(path);
    if (expect_ok(fd, "create a temporary file") == -1)
        return;
    int read_only = open(path, O_RDONLY);
    unlink(path);
    size_t size = 2 * page + 100;
    unsigned char *contents = malloc(size);
    for (size_t i = 0; i < size; i++)
        contents[i] = file_byte(i);
    expect_eq(write(fd, contents, size), (long)size, "write 2 pages + 100 bytes to it");

    unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (expect_ok((long)m, "mmap the file private read-only") != -1) {
        check(memcmp(m, contents, size) == 0, "the mapping shows the file's bytes", "they differ");
        check(all_bytes(m + size, 3 * page - size, 0), "the rest of the last page is zero", "it is not");
        munmap(m, size);
    }

    m = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, page);
    if (expect_ok((long)m, "mmap the file's second page") != -1) {
        check(memcmp(m, contents + page, page) == 0, "the offset mapping shows the second page", "it does not");
        munmap(m, page);
    }

    m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (expect_ok((long)m, "mmap the file private read-write") != -1) {
        m[10] = 0;
        unsigned char b = 0;
        pread(fd, &b, 1, 10);
        check(b == file_byte(10), "a write to a private mapping does not reach the file", "the file changed");
        expect_ok(madvise(m, page, MADV_DONTNEED), "madvise MADV_DONTNEED on a private file mapping");
        check(m[10] == file_byte(10), "MADV_DONTNEED on a private file mapping brings back the file's bytes",
              "the private copy remains");
        munmap(m, size);
    }

    unsigned char *s1 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char *s2 = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (expect_ok((long)s1, "mmap the file shared read-write") != -1 &&
        expect_ok((long)s2, "mmap the file shared a second time") != -1) {
        s1[20] = 0xee;
        check(s2[20] == 0xee, "a write through one shared mapping shows in the other", "it does not");
        expect_ok(msync(s1, size, MS_SYNC), "msync the shared mapping");
        unsigned char b = 0;
        pread(fd, &b, 1, 20);
        check(b == 0xee, "a write to a shared mapping reaches the file", "pread sees the old byte");
        unsigned char c = 0xdd;
        pwrite(fd, &c, 1, 30);
        check(s1[30] == 0xdd, "a write(2) to the file shows in its shared mapping", "the mapping is stale");
        munmap(s1, size);
        munmap(s2, size);
    }

    expect_errno((long)mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, read_only, 0), EACCES,
                 "shared writable mmap of a read-only descriptor fails with EACCES");
    expect_errno((long)mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 1), EINVAL,
                 "mmap at an unaligned file offset fails with EINVAL");
    expect_errno((long)mmap(NULL, page, PROT_READ, MAP_PRIVATE, 9999, 0), EBADF,
                 "mmap of a closed descriptor fails with EBADF");
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    expect_errno((long)mmap(NULL, page, PROT_READ, MAP_PRIVATE, dir, 0), ENODEV,
                 "mmap of a directory fails with ENODEV");
    close(dir);
    close(read_only);
    close(fd);
    free(contents);
}

int main(void)
{
    page = sysconf(_SC_PAGESIZE);
    test_brk();
    expect_eq(page, 4096, "the page size is 4096");
    if (pipe(pipe_fds) != 0 || (zero_fd = open("/dev/zero", O_RDONLY)) < 0) {
        check(0, "set up a pipe and /dev/zero", "failed with %s", errno_name(errno));
        return finish();
    }
    test_anonymous();
    test_guard_pages();
    test_mprotect();
    test_mremap();
    test_madvise();
    test_file_mappings();
    return finish();
}
