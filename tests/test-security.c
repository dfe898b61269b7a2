/* Access control and what a client can do to others, as unprivileged uids (65534, 65533):
 * every route a read-only holder has to change a segment, what a writer can and cannot do,
 * the daemon's socket (modes, group, symlinks, paths it does not own), its descriptor limit,
 * and the per-uid limits. docs/security.md lists each route and names its test here. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/fs.h>

#include "harness.h"
#include "raw.h"

#define MiB (1024ull * 1024)
#define RW (SHMV_READ | SHMV_WRITE)
#define NOBODY 65534
#define OTHER 65533
#define THIRD 65532
/* The test daemon's limits (main() passes them). */
#define MAX_CLIENTS 24
#define MAX_CLIENTS_PER_UID 8
#define MAX_BYTES_PER_UID (64 * MiB)
#define MAX_SEGMENTS_PER_UID 16

static size_t page_size(void)
{
        return (size_t)sysconf(_SC_PAGESIZE);
}

static void seg_create(shmv_client *c, char *name, const char *prefix, uint64_t size, uint32_t mode)
{
        snprintf(name, 64, "%s", th_name(prefix));
        CHECK_OK(shmv_segment_create(c, name, size, mode));
}

static shmv_view *view_open(shmv_client *c, const char *name, int flags)
{
        shmv_view *v = NULL;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, flags, &v));
        return v;
}

static void fill(shmv_view *w, char byte)
{
        memset(th_data_mut(w), byte, shmv_view_nbytes(w));
}

/* Every byte of the view is byte: reading it all also proves no page is gone (no SIGBUS). */
static bool all_bytes(const shmv_view *v, char byte)
{
        const char *p = shmv_view_data(v);
        for (size_t i = 0; i < shmv_view_nbytes(v); i++)
                if (p[i] != byte)
                        return false;
        return true;
}

#define CHECK_ERRNO(expr, err)                                                                     \
        do {                                                                                       \
                errno = 0;                                                                         \
                long r_ = (long)(expr);                                                            \
                int e_ = errno;                                                                    \
                if (r_ != -1 || e_ != (err))                                                       \
                        th_fail(__FILE__, __LINE__, "%s gave %ld (%s), wanted -1 (%s)", #expr, r_, \
                                strerror(e_), strerror(err));                                      \
        } while (0)

/* ---- A read-only holder of another uid ---- */

struct target {
        char name[64];
        size_t size;
        uid_t uid;
        gid_t gid;
        pid_t writer; /* a process of another uid mapping the segment writable, or 0 */
};

/* Every route an unprivileged process has to change a segment it holds read-only: each must
 * fail, and the segment must be unchanged afterwards (the caller checks). */
static void attack_readonly(void *arg)
{
        const struct target *t = arg;
        th_become(t->uid, t->gid);
        th_raw r;
        th_raw_connect_hello(&r);
        uint64_t vid;
        int fd;
        CHECK_OK(th_raw_open(&r, t->name, strlen(t->name), 0, UINT64_MAX, false, &vid, &fd));
        size_t size = t->size;
        char path[128];

        /* The descriptor is read-only, and fcntl cannot change that. */
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDONLY);
        fcntl(fd, F_SETFL, O_RDWR);
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDONLY);

        /* A writable shared mapping, directly or by mprotect. */
        CHECK_PTR_EQ(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
        CHECK_EQ(errno, EACCES);
        CHECK_PTR_EQ(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE, fd, 0),
                     MAP_FAILED);
        CHECK_EQ(errno, EACCES);
        char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        CHECK_PTR_NE(p, MAP_FAILED);
        CHECK_ERRNO(mprotect(p, size, PROT_READ | PROT_WRITE), EACCES);
        /* Punching the pages out through the mapping. */
        CHECK_ERRNO(madvise(p, size, MADV_REMOVE), EACCES);
        /* Writing through /proc/self/mem, which may write to read-only private mappings. */
        int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
        if (mem >= 0) {
                CHECK_LT(pwrite(mem, "M", 1, (off_t)(uintptr_t)p), 0);
                close(mem);
        }
        /* A private writable mapping works, but is a copy: the segment does not change. */
        char *priv = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        CHECK_PTR_NE(priv, MAP_FAILED);
        priv[0] = 'P';
        CHECK_NE(p[0], 'P');
        munmap(priv, size);

        /* write, pwrite, splice, copy_file_range. */
        CHECK_ERRNO(write(fd, "x", 1), EBADF);
        CHECK_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
        struct iovec iov = {.iov_base = "x", .iov_len = 1};
        CHECK_ERRNO(pwritev2(fd, &iov, 1, 0, 0), EBADF);
        int pipefd[2];
        CHECK_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        CHECK_EQ(write(pipefd[1], "s", 1), 1);
        loff_t off = 0;
        CHECK_ERRNO(splice(pipefd[0], NULL, fd, &off, 1, 0), EBADF);
        close(pipefd[0]);
        close(pipefd[1]);
        int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        CHECK_GE(src, 0);
        CHECK_LT(copy_file_range(src, NULL, fd, &off, 1, 0), 0);
        CHECK(errno == EBADF || errno == EXDEV);
        close(src);

        /* Size and pages: ftruncate, fallocate (allocate, grow, punch). */
        CHECK_LT(ftruncate(fd, 0), 0);
        CHECK(errno == EINVAL || errno == EBADF);
        CHECK_LT(ftruncate(fd, (off_t)size * 2), 0);
        CHECK(errno == EINVAL || errno == EBADF);
        CHECK_ERRNO(fallocate(fd, 0, 0, (off_t)size * 2), EBADF);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)size),
                    EBADF);

        /* Seals: none can be added through a read-only descriptor. */
        int seals[] = {F_SEAL_SEAL, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK, F_SEAL_GROW};
        for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++)
                CHECK_ERRNO(fcntl(fd, F_ADD_SEALS, seals[i]), EPERM);

        /* The inode belongs to the daemon's uid, mode 0600: no mode, owner, inode flags
         * (immutable, append-only) or extended attributes of ours. */
        CHECK_ERRNO(fchmod(fd, 0666), EPERM);
        CHECK_ERRNO(fchown(fd, t->uid, t->gid), EPERM);
        int iflags = FS_IMMUTABLE_FL;
        CHECK_LT(ioctl(fd, FS_IOC_SETFLAGS, &iflags), 0);
        CHECK_LT(fsetxattr(fd, "user.shmview", "x", 1, 0), 0);

        /* Opening the same memfd again, writable: through our own descriptor, through the
         * daemon's, through our mapping. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
        CHECK_ERRNO(open(path, O_WRONLY | O_CLOEXEC), EACCES);
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)th_daemon_pid());
        CHECK_NULL(opendir(path));
        CHECK_EQ(errno, EACCES);
        for (int n = 0; n < 64; n++) {
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)th_daemon_pid(), n);
                CHECK_LT(open(path, O_RDWR | O_CLOEXEC), 0);
                CHECK_EQ(errno, EACCES);
        }
        snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)p,
                 (unsigned long)(uintptr_t)p + size);
        int mf = open(path, O_RDWR | O_CLOEXEC);
        CHECK_LT(mf, 0);
        CHECK(errno == EPERM || errno == EACCES);

        /* The daemon's memory, and that of a writer of another uid. */
        pid_t victims[2] = {th_daemon_pid(), t->writer};
        for (int i = 0; i < 2; i++) {
                if (victims[i] <= 0)
                        continue;
                char buf[8] = "ATTACK!";
                struct iovec local = {.iov_base = buf, .iov_len = sizeof(buf)};
                struct iovec remote = {.iov_base = p, .iov_len = sizeof(buf)};
                CHECK_ERRNO(process_vm_writev(victims[i], &local, 1, &remote, 1, 0), EPERM);
                CHECK_ERRNO(ptrace(PTRACE_ATTACH, victims[i], NULL, NULL), EPERM);
                CHECK_ERRNO(ptrace(PTRACE_SEIZE, victims[i], NULL, NULL), EPERM);
                snprintf(path, sizeof(path), "/proc/%d/mem", (int)victims[i]);
                CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
                snprintf(path, sizeof(path), "/proc/%d/map_files", (int)victims[i]);
                CHECK_NULL(opendir(path));
                CHECK(errno == EACCES || errno == EPERM);
        }

        /* Sent back to the daemon, the descriptor is closed unread. */
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        nr.name.data = (uint8_t *)(uintptr_t)t->name;
        nr.name.len = strlen(t->name);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.id = 1000;
        req.body_case = SHMVIEW__REQUEST__BODY_STAT;
        req.stat = &nr;
        uint8_t *frame;
        size_t frame_len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &frame, &frame_len), 0);
        th_raw_send_with_fds(&r, frame, frame_len, &fd, 1);
        free(frame);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->id, 1000);
        CHECK_EQ(resp->status, 0);
        shmview__response__free_unpacked(resp, NULL);
        munmap(p, size);
        close(fd);
        th_raw_release(&r, vid);
        th_raw_close(&r);
}

/* Forks uid 65534 mapping name writable; it holds the mapping until *ret_go is closed. */
static pid_t start_writer(const char *name, int *ret_go)
{
        int ready[2], go[2];
        CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
        CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
        fflush(NULL);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                th_become(NOBODY, NOBODY);
                shmv_client *c = th_connect();
                shmv_view *w = view_open(c, name, RW);
                CHECK_EQ(write(ready[1], "r", 1), 1);
                char b;
                while (read(go[0], &b, 1) > 0)
                        ;
                shmv_view_release(w);
                shmv_disconnect(c);
                _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        char b;
        CHECK_EQ(read(ready[0], &b, 1), 1);
        close(ready[0]);
        *ret_go = go[1];
        return pid;
}

static void create_as_nobody(void *arg)
{
        struct target *t = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, t->name, t->size, 0644));
        shmv_view *w = view_open(c, t->name, RW);
        fill(w, 'n');
        shmv_view_release(w);
        shmv_disconnect(c);
}

/* A read-only view held by another uid: no route changes the segment. Against a segment of
 * root (the daemon's uid), and one of uid 65534 read by 65533 while 65534 maps it writable. */
static void test_readonly_routes(void)
{
        shmv_client *c = th_connect();
        struct target t = {.size = 2 * page_size(), .uid = NOBODY, .gid = NOBODY};
        seg_create(c, t.name, "ro", t.size, 0644);
        shmv_view *w = view_open(c, t.name, RW);
        fill(w, 'k');
        CHECK_EQ(th_in_child(attack_readonly, &t), 0);
        CHECK(all_bytes(w, 'k'));
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, t.name, &info));
        CHECK_EQ(info.size, t.size);
        CHECK(!info.sealed);
        /* The attempts to seal changed nothing: the owner still seals. */
        shmv_view_release(w);
        CHECK_OK(shmv_segment_seal(c, t.name));
        CHECK_OK(shmv_segment_unlink(c, t.name));

        struct target u = {.size = 3 * page_size(), .uid = OTHER, .gid = OTHER};
        snprintf(u.name, sizeof(u.name), "%s", th_name("ro-nobody"));
        CHECK_EQ(th_in_child(create_as_nobody, &u), 0);
        int go;
        u.writer = start_writer(u.name, &go);
        CHECK_EQ(th_in_child(attack_readonly, &u), 0);
        close(go);
        int st;
        waitpid(u.writer, &st, 0);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        shmv_view *v = view_open(c, u.name, SHMV_READ);
        CHECK(all_bytes(v, 'n'));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, u.name));
        shmv_disconnect(c);
}

/* ---- What a writer can do ---- */

struct writer_case {
        char name[64];
        size_t size;
        int what;
};

enum {
        WRITER_SIZE,
        WRITER_PUNCH,
        WRITER_FUTURE_WRITE,
        WRITER_SEAL_SEAL,
        WRITER_SEAL_WRITE,
};

static void writer_child(void *arg)
{
        const struct writer_case *wc = arg;
        th_become(NOBODY, NOBODY);
        th_raw r;
        th_raw_connect_hello(&r);
        uint64_t vid;
        int fd;
        CHECK_OK(th_raw_open(&r, wc->name, strlen(wc->name), 0, UINT64_MAX, true, &vid, &fd));
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDWR);
        off_t size = (off_t)wc->size;
        struct stat st;
        switch (wc->what) {
        case WRITER_SIZE:
                /* The memfd: the segment's pages and its doorbell page (docs/protocol.md). */
                size = (off_t)(((wc->size + page_size() - 1) & ~(page_size() - 1)) + page_size());
                /* No shrinking, no growing, not even reserving past the end. */
                CHECK_ERRNO(ftruncate(fd, 0), EPERM);
                CHECK_ERRNO(ftruncate(fd, size - 1), EPERM);
                CHECK_ERRNO(ftruncate(fd, size + 1), EPERM);
                CHECK_ERRNO(fallocate(fd, 0, size, 4096), EPERM);
                CHECK_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, size, 1 << 20), EPERM);
                CHECK_ERRNO(fchmod(fd, 0666), EPERM);
                CHECK_ERRNO(fchown(fd, NOBODY, NOBODY), EPERM);
                CHECK_EQ(fstat(fd, &st), 0);
                CHECK_EQ(st.st_size, size);
                break;
        case WRITER_PUNCH: {
                /* Allowed to whoever may write: the bytes read as zeros, as if written. */
                off_t page = (off_t)page_size();
                CHECK_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, page), 0);
                char *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                CHECK_PTR_NE(p, MAP_FAILED);
                CHECK_EQ(madvise(p + page, (size_t)page, MADV_REMOVE), 0);
                munmap(p, (size_t)size);
                break;
        }
        case WRITER_FUTURE_WRITE: {
                char *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                CHECK_PTR_NE(p, MAP_FAILED);
                CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
                p[0] = 'F'; /* the mapping made before still writes */
                CHECK_ERRNO(write(fd, "x", 1), EPERM);
                munmap(p, (size_t)size);
                break;
        }
        case WRITER_SEAL_SEAL:
                CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), 0);
                break;
        case WRITER_SEAL_WRITE:
                CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
                break;
        }
        close(fd);
        th_raw_release(&r, vid);
        th_raw_close(&r);
}

static void run_writer(struct writer_case *wc, shmv_client *c, int what)
{
        wc->what = what;
        snprintf(wc->name, sizeof(wc->name), "%s", th_name("writer"));
        wc->size = 4 * page_size();
        CHECK_OK(shmv_segment_create(c, wc->name, wc->size, 0666));
}

/* Blocks of the memfd that hold pages, through a read-only descriptor from the raw protocol. */
static blkcnt_t blocks_of(th_raw *r, const char *name)
{
        int fd;
        CHECK_OK(th_raw_open(r, name, strlen(name), 0, UINT64_MAX, false, NULL, &fd));
        struct stat st;
        CHECK_EQ(fstat(fd, &st), 0);
        close(fd);
        return st.st_blocks;
}

/* A writer (uid 65534, mode 0666) cannot change the size, cannot reserve past the end, and
 * cannot change the inode; it can punch holes, which read as zeros and are reserved again at
 * seal; seals it adds are noticed by the daemon. Readers never get SIGBUS. */
static void test_writer_routes(void)
{
        shmv_client *c = th_connect();
        th_raw raw;
        th_raw_connect_hello(&raw);
        struct writer_case wc;

        run_writer(&wc, c, WRITER_SIZE);
        shmv_view *v = view_open(c, wc.name, RW);
        fill(v, 'z');
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        CHECK(all_bytes(v, 'z'));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_PUNCH);
        v = view_open(c, wc.name, RW);
        fill(v, 'h');
        blkcnt_t full = blocks_of(&raw, wc.name);
        shmv_view *r = view_open(c, wc.name, SHMV_READ);
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        const char *p = shmv_view_data(r);
        for (size_t i = 0; i < wc.size; i++)
                CHECK_EQ(p[i], (i < 2 * page_size() ? 0 : 'h'));
        /* Touching the holes again was enough to allocate them; punch again and seal. */
        shmv_view_release(v);
        shmv_view_release(r);
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        CHECK_LT(blocks_of(&raw, wc.name), full);
        CHECK_OK(shmv_segment_seal(c, wc.name));
        CHECK_EQ(blocks_of(&raw, wc.name), full);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_FUTURE_WRITE);
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        v = NULL;
        CHECK_RC(shmv_view_open(c, wc.name, 0, SHMV_TO_END, RW, &v), -EPERM);
        v = view_open(c, wc.name, SHMV_READ);
        CHECK_EQ(((const char *)shmv_view_data(v))[0], 'F');
        shmv_view_release(v);
        CHECK_OK(shmv_segment_seal(c, wc.name));
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_SEAL_SEAL);
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        CHECK_RC(shmv_segment_seal(c, wc.name), -EPERM);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, wc.name, &info));
        CHECK(!info.sealed);
        v = view_open(c, wc.name, RW); /* still writable for those allowed */
        fill(v, 'w');
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_SEAL_WRITE);
        CHECK_EQ(th_in_child(writer_child, &wc), 0);
        v = NULL;
        CHECK_RC(shmv_view_open(c, wc.name, 0, SHMV_TO_END, RW, &v), -EPERM);
        CHECK_OK(shmv_segment_stat(c, wc.name, &info));
        CHECK(info.sealed);
        CHECK_OK(shmv_segment_seal(c, wc.name));
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        th_raw_close(&raw);
        shmv_disconnect(c);
}

/* After seal, even the read-write descriptor cannot write or map writable. */
static void sealed_writer(void *arg)
{
        const char *name = arg;
        th_become(NOBODY, NOBODY);
        th_raw r;
        th_raw_connect_hello(&r);
        CHECK_RC(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, true, NULL, NULL), -EPERM);
        int fd;
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, false, NULL, &fd));
        CHECK_PTR_EQ(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
        close(fd);
        th_raw_close(&r);
}

static void test_sealed(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "sealed", 4096, 0666);
        th_raw r;
        th_raw_connect_hello(&r);
        int fd;
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, true, NULL, &fd));
        th_raw_close(&r); /* the view is released; the descriptor stays ours */
        for (int i = 0; i < 100 && shmv_segment_seal(c, name) == -EBUSY; i++)
                th_sleep_ms(10);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.sealed);
        CHECK_ERRNO(write(fd, "x", 1), EPERM);
        CHECK_PTR_EQ(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
        CHECK_EQ(errno, EPERM);
        close(fd);
        CHECK_EQ(th_in_child(sealed_writer, name), 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* ---- The socket ---- */

static char sock_dir[40];

static void make_dir(uid_t owner, mode_t mode)
{
        snprintf(sock_dir, sizeof(sock_dir), "/tmp/shmview-sec-XXXXXX");
        CHECK(mkdtemp(sock_dir));
        CHECK_EQ(chown(sock_dir, owner, owner), 0);
        CHECK_EQ(chmod(sock_dir, mode), 0);
}

static void remove_dir(void)
{
        DIR *d = opendir(sock_dir);
        if (d) {
                char path[320];
                for (struct dirent *e; (e = readdir(d));) {
                        if (e->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", sock_dir, e->d_name);
                        unlink(path);
                }
                closedir(d);
        }
        rmdir(sock_dir);
}

struct daemon_run {
        const char *argv[16];
        uid_t uid; /* 0: stay root */
        rlim_t nofile_soft, nofile_hard; /* 0: leave the limit */
};

/* Starts shmviewd; returns its pid once it answers on socket, or -1 when it exited (its
 * status in *ret_status). */
static pid_t daemon_run(struct daemon_run *d, const char *sock, int *ret_status)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                /* Dies with the test, whatever happens to it. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
                if (d->nofile_soft) {
                        struct rlimit rl = {d->nofile_soft, d->nofile_hard};
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                _exit(126);
                }
                if (d->uid)
                        th_become(d->uid, d->uid);
                execv(SHMVIEWD_PATH, (char **)(uintptr_t)d->argv);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        return -1;
                }
                if (th_socket_listens(sock))
                        return pid;
                th_sleep_ms(10);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        th_fail(__FILE__, __LINE__, "shmviewd did not start on %s", sock);
}

static void daemon_end(pid_t pid)
{
        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
}

struct connect_as {
        const char *path;
        uid_t uid;
        gid_t gid;
        int want;
};

static void connect_child(void *arg)
{
        const struct connect_as *a = arg;
        th_become(a->uid, a->gid);
        shmv_client *c = NULL;
        CHECK_RC(shmv_connect(a->path, &c), a->want);
        shmv_disconnect(c);
}

static void check_connect(const char *path, uid_t uid, gid_t gid, int want)
{
        struct connect_as a = {path, uid, gid, want};
        CHECK_EQ(th_in_child(connect_child, &a), 0);
}

/* A user instance's socket is 0600 and its own; a system instance's is 0660, in the group
 * --socket-group names. */
static void test_socket_modes(void)
{
        char path[128];
        int st;
        make_dir(NOBODY, 0755);
        snprintf(path, sizeof(path), "%s/user.sock", sock_dir);
        struct daemon_run user = {{SHMVIEWD_PATH, "--socket", path, NULL}, .uid = NOBODY};
        pid_t pid = daemon_run(&user, path, &st);
        CHECK_GT(pid, 0);
        struct stat sb;
        CHECK_EQ(lstat(path, &sb), 0);
        CHECK(S_ISSOCK(sb.st_mode));
        CHECK_EQ((sb.st_mode & 07777), 0600);
        CHECK_EQ(sb.st_uid, NOBODY);
        check_connect(path, NOBODY, NOBODY, 0);
        check_connect(path, OTHER, NOBODY, -EACCES);
        daemon_end(pid);
        CHECK_LT(lstat(path, &sb), 0);
        CHECK_EQ(errno, ENOENT);
        remove_dir();

        make_dir(0, 0755);
        snprintf(path, sizeof(path), "%s/system.sock", sock_dir);
        struct daemon_run sys = {{SHMVIEWD_PATH, "--socket", path, "--socket-group", "65533", NULL},
                                 .uid = 0};
        pid = daemon_run(&sys, path, &st);
        CHECK_GT(pid, 0);
        CHECK_EQ(lstat(path, &sb), 0);
        CHECK(S_ISSOCK(sb.st_mode));
        CHECK_EQ((sb.st_mode & 07777), 0660);
        CHECK_EQ(sb.st_uid, 0);
        CHECK_EQ(sb.st_gid, OTHER);
        check_connect(path, THIRD, OTHER, 0);
        check_connect(path, THIRD, THIRD, -EACCES);
        check_connect(path, NOBODY, NOBODY, -EACCES);
        daemon_end(pid);
        remove_dir();
}

/* The daemon follows no symlink at its socket path, replaces no socket of another uid, and
 * listens in no directory that someone else could put a file into. */
static void test_socket_paths(void)
{
        char path[100], target[100];
        int st = 0;
        struct stat sb;
        struct daemon_run d = {{SHMVIEWD_PATH, "--socket", path, NULL}, .uid = 0};

        /* A symlink at the path, to a file and to a stale socket of ours: left alone. */
        make_dir(0, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        snprintf(target, sizeof(target), "%s/target", sock_dir);
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK_GE(fd, 0);
        CHECK_EQ(write(fd, "keep", 4), 4);
        close(fd);
        CHECK_EQ(symlink(target, path), 0);
        CHECK_LT(daemon_run(&d, path, &st), 0);
        CHECK_EQ(st, 1);
        CHECK_EQ(lstat(path, &sb), 0);
        CHECK(S_ISLNK(sb.st_mode));
        CHECK_EQ(stat(target, &sb), 0);
        CHECK(S_ISREG(sb.st_mode));
        CHECK_EQ(sb.st_size, 4);
        unlink(target);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target);
        CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        CHECK_LT(daemon_run(&d, path, &st), 0);
        CHECK_EQ(st, 1);
        CHECK_EQ(lstat(path, &sb), 0);
        CHECK(S_ISLNK(sb.st_mode));
        CHECK_EQ(lstat(target, &sb), 0);
        CHECK(S_ISSOCK(sb.st_mode));
        unlink(path);

        /* A stale socket of another uid. */
        CHECK_EQ(rename(target, path), 0);
        CHECK_EQ(lchown(path, NOBODY, NOBODY), 0);
        CHECK_LT(daemon_run(&d, path, &st), 0);
        CHECK_EQ(st, 1);
        CHECK_EQ(lstat(path, &sb), 0);
        CHECK(S_ISSOCK(sb.st_mode));
        CHECK_EQ(sb.st_uid, NOBODY);
        /* Ours, it is replaced. */
        CHECK_EQ(lchown(path, 0, 0), 0);
        pid_t pid = daemon_run(&d, path, &st);
        CHECK_GT(pid, 0);
        daemon_end(pid);
        remove_dir();

        /* Directories: writable by all without the sticky bit, or another uid's. */
        make_dir(0, 0777);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        CHECK_LT(daemon_run(&d, path, &st), 0);
        CHECK_EQ(st, 1);
        CHECK_LT(lstat(path, &sb), 0);
        CHECK_EQ(chmod(sock_dir, 01777), 0); /* like /tmp */
        pid = daemon_run(&d, path, &st);
        CHECK_GT(pid, 0);
        daemon_end(pid);
        remove_dir();
        make_dir(NOBODY, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        CHECK_LT(daemon_run(&d, path, &st), 0);
        CHECK_EQ(st, 1);
        CHECK_LT(lstat(path, &sb), 0);
        remove_dir();
}

/* "Max open files  SOFT  HARD  files" of a process. */
static void nofile_of(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
        FILE *f = fopen(path, "re");
        CHECK(f != NULL);
        bool found = false;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Max open files %llu %llu", soft, hard) == 2)
                        found = true;
        fclose(f);
        CHECK(found);
}

static void raise_hard(void *arg)
{
        struct rlimit rl = {4096, 4096};
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                _exit(1);
        rl.rlim_cur = rl.rlim_max = 8192;
        _exit(setrlimit(RLIMIT_NOFILE, &rl) < 0); /* EPERM without CAP_SYS_RESOURCE */
}

/* The daemon raises its descriptor limit: the soft one to the hard one, and with
 * CAP_SYS_RESOURCE the hard one too, to what its limits may need (up to 3 per segment, 1 per
 * client, some more). */
static void test_nofile_raised(void)
{
        bool may_raise_hard = th_in_child(raise_hard, NULL) == 0;
        char path[128];
        int st;
        unsigned long long soft, hard;
        make_dir(0, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        struct daemon_run root = {{SHMVIEWD_PATH, "--socket", path, "--max-segments", "4096",
                                   "--max-clients", "1000", NULL},
                                  .nofile_soft = 256,
                                  .nofile_hard = 4096};
        pid_t pid = daemon_run(&root, path, &st);
        CHECK_GT(pid, 0);
        nofile_of(pid, &soft, &hard);
        if (may_raise_hard) {
                CHECK_EQ(soft, hard);
                CHECK_GE(hard, 3 * 4096 + 1000);
        } else {
                CHECK_EQ(soft, 4096);
                CHECK_EQ(hard, 4096);
        }
        daemon_end(pid);
        remove_dir();

        make_dir(NOBODY, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        struct daemon_run user = root;
        user.uid = NOBODY;
        pid = daemon_run(&user, path, &st);
        CHECK_GT(pid, 0);
        nofile_of(pid, &soft, &hard);
        CHECK_EQ(soft, 4096);
        CHECK_EQ(hard, 4096);
        daemon_end(pid);
        remove_dir();
}

/* ---- Limits ---- */

/* The lowest descriptor number process pid does not use: the next one it opens. */
static int lowest_free_fd(pid_t pid)
{
        static bool used[1 << 16];
        memset(used, 0, sizeof(used));
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        DIR *d = opendir(path);
        CHECK(d != NULL);
        for (struct dirent *e; (e = readdir(d));) {
                long n = e->d_name[0] == '.' ? -1 : strtol(e->d_name, NULL, 10);
                if (n >= 0 && n < (long)(sizeof(used) / sizeof(used[0])))
                        used[n] = true;
        }
        closedir(d);
        int fd = 0;
        while (used[fd])
                fd++;
        return fd;
}

struct exhausted {
        th_raw *r; /* connected before the daemon ran out of descriptors */
        th_raw *other;
        const char *fresh; /* no view opened yet */
        const char *seen; /* has had a read-only and a writable one */
};

static void exhausted_child(void *arg)
{
        struct exhausted *x = arg;
        /* The first read-only open of fresh needs a descriptor the daemon cannot have. */
        Shmview__OpenRequest o;
        Shmview__Request req;
        th_raw_fill_open(&req, &o, x->fresh, strlen(x->fresh));
        uint64_t id = th_raw_send(x->r, &req);
        int fd;
        Shmview__Response *resp = th_raw_recv(x->r, &fd);
        CHECK(resp);
        CHECK_EQ(resp->id, id);
        CHECK_LT(fd, 0);
        CHECK_EQ(resp->status, ENFILE);
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY__NOT_SET);
        char msg[512], want[512];
        snprintf(msg, sizeof(msg), "%.*s", (int)resp->message.len,
                 (const char *)resp->message.data);
        snprintf(want, sizeof(want), "the daemon cannot open segment %s read-only: %s", x->fresh,
                 strerror(EMFILE));
        CHECK_STR(msg, want);
        shmview__response__free_unpacked(resp, NULL);

        /* Nor can the first writable open. */
        CHECK_RC(th_raw_open(x->r, x->fresh, strlen(x->fresh), 0, UINT64_MAX, true, NULL, NULL),
                 -ENFILE);
        /* Nothing else needs one: opens of a segment that has its descriptor of that kind
         * already, other requests, other clients. */
        uint64_t vid;
        CHECK_OK(th_raw_open(x->r, x->seen, strlen(x->seen), 0, UINT64_MAX, true, &vid, &fd));
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDWR);
        close(fd);
        th_raw_release(x->r, vid);
        CHECK_OK(th_raw_open(x->other, x->seen, strlen(x->seen), 0, UINT64_MAX, false, &vid, &fd));
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDONLY);
        close(fd);
        th_raw_release(x->other, vid);
        CHECK_OK(th_raw_named(x->other, SHMVIEW__REQUEST__BODY_STAT, x->fresh, strlen(x->fresh)));
        CHECK_RC(th_raw_open(x->other, x->fresh, strlen(x->fresh), 0, 1, false, NULL, NULL),
                 -ENFILE);
}

/* A segment's read-only descriptor is opened at its first read-only open, its read-write one at
 * its first writable open: when the daemon is out of descriptors then, that open gets ENFILE
 * and a message saying so, and nothing else fails. Once the daemon has descriptors again, the
 * same open works. */
static void test_readonly_fd_exhausted(void)
{
        shmv_client *c = th_connect();
        char fresh[64], seen[64];
        seg_create(c, fresh, "fresh", 4096, 0644);
        seg_create(c, seen, "seen", 4096, 0644);
        th_raw r, other;
        th_raw_connect_hello(&r);
        th_raw_connect_hello(&other);
        CHECK_OK(th_raw_open(&r, seen, strlen(seen), 0, UINT64_MAX, false, NULL, NULL));
        CHECK_OK(th_raw_open(&r, seen, strlen(seen), 0, UINT64_MAX, true, NULL, NULL));
        CHECK_OK(th_raw_named(&r, SHMVIEW__REQUEST__BODY_STAT, seen, strlen(seen)));

        /* The soft limit at the daemon's lowest free descriptor: it cannot open another. */
        pid_t pid = th_daemon_pid();
        struct rlimit old, low;
        CHECK_EQ(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0);
        low = old;
        low.rlim_cur = (rlim_t)lowest_free_fd(pid);
        CHECK_EQ(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);
        struct exhausted x = {&r, &other, fresh, seen};
        int st = th_in_child(exhausted_child, &x);
        CHECK_EQ(prlimit(pid, RLIMIT_NOFILE, &old, NULL), 0);
        CHECK_EQ(st, 0);

        int fd;
        CHECK_OK(th_raw_open(&r, fresh, strlen(fresh), 0, UINT64_MAX, false, NULL, &fd));
        CHECK_EQ((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDONLY);
        close(fd);
        th_raw_close(&other);
        th_raw_close(&r);
        CHECK_OK(shmv_segment_unlink(c, fresh));
        CHECK_OK(shmv_segment_unlink(c, seen));
        shmv_disconnect(c);
}

static void test_limits_advertised(void)
{
        th_raw r;
        th_raw_connect(&r);
        Shmview__Response *resp;
        th_raw_hello(&r, &resp);
        const Shmview__Limits *l = resp->hello->limits;
        CHECK(l != NULL);
        CHECK_EQ(l->max_frame, 65536);
        CHECK_EQ(l->max_fds_per_message, 1);
        CHECK_EQ(l->max_clients, MAX_CLIENTS);
        CHECK_EQ(l->max_clients_per_uid, MAX_CLIENTS_PER_UID);
        CHECK_EQ(l->max_bytes_per_uid, MAX_BYTES_PER_UID);
        CHECK_EQ(l->max_bytes, 1024 * MiB);
        CHECK_EQ(l->max_views_per_client, 4096);
        CHECK_EQ(l->max_segments, 33755); /* the most a restart hands over (docs/systemd.md) */
        CHECK_EQ(l->max_segments_per_uid, MAX_SEGMENTS_PER_UID);
        /* Not given: 4 times max_views_per_client. */
        CHECK_EQ(l->max_views_per_uid, 4 * 4096);
        CHECK_EQ(l->stall_timeout_ms, 2000);
        CHECK_EQ(l->max_name_len, 255);
        /* The list page fits max_frame: 65536 / 320 entries of at most 320 bytes. */
        CHECK_GT(l->list_page_size, 0);
        CHECK_LE(l->list_page_size * 320u + 64u, l->max_frame);
        shmview__response__free_unpacked(resp, NULL);
        /* A request of max_frame bytes is read (an unknown field 99 of 65531 bytes: not a
         * request this daemon knows), one byte more ends the connection. */
        static uint8_t big[65537];
        big[0] = 0x9a; /* field 99, length-delimited */
        big[1] = 0x06;
        big[2] = 0xfb; /* 65531 */
        big[3] = 0xff;
        big[4] = 0x03;
        th_raw_send_payload(&r, big, 65536);
        resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->status, EOPNOTSUPP);
        shmview__response__free_unpacked(resp, NULL);
        static const uint8_t over[4] = {0x01, 0x00, 0x01, 0x00}; /* 65537 */
        th_raw_send_bytes(&r, over, 4);
        (void)!send(r.fd, big, sizeof(big), MSG_NOSIGNAL); /* may find it closed already */
        CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
        th_raw_close(&r);
}

struct clients_case {
        uid_t uid;
        int n; /* connections to open */
        int want_last; /* what the last one gets */
};

static void clients_child(void *arg)
{
        const struct clients_case *cc = arg;
        th_become(cc->uid, cc->uid);
        shmv_client *cs[64] = {0};
        for (int i = 0; i < cc->n - 1; i++)
                CHECK_OK(shmv_connect(NULL, &cs[i]));
        shmv_client *last = NULL;
        CHECK_RC(shmv_connect(NULL, &last), cc->want_last);
        shmv_disconnect(last);
        if (cc->want_last == -EUSERS) {
                /* Once one goes, another may come. */
                shmv_disconnect(cs[0]);
                cs[0] = NULL;
                int r = -EUSERS;
                for (int i = 0; i < 200 && r == -EUSERS; i++) {
                        r = shmv_connect(NULL, &last);
                        if (r == -EUSERS)
                                th_sleep_ms(10);
                }
                CHECK_OK(r);
                shmv_disconnect(last);
        }
        for (int i = 0; i < cc->n; i++)
                shmv_disconnect(cs[i]);
}

/* max_clients_per_uid binds each uid but root (and the daemon's uid); max_clients binds
 * all. The one refused is told why (EUSERS) and nobody else notices. */
static void test_clients_per_uid(void)
{
        CHECK_STR(shmv_strerror(-EUSERS), "the daemon has too many clients connected");
        struct clients_case nobody = {NOBODY, MAX_CLIENTS_PER_UID + 1, -EUSERS};
        CHECK_EQ(th_in_child(clients_child, &nobody), 0);
        struct clients_case fill_ok = {NOBODY, MAX_CLIENTS_PER_UID, 0};
        CHECK_EQ(th_in_child(clients_child, &fill_ok), 0);
        struct clients_case root = {0, MAX_CLIENTS_PER_UID + 4, 0};
        CHECK_EQ(th_in_child(clients_child, &root), 0);

        /* Fill the daemon with root's connections: then everyone is refused, with a reason. */
        th_raw conns[MAX_CLIENTS + 1];
        int n = 0;
        for (; n <= MAX_CLIENTS; n++) {
                th_raw_connect(&conns[n]);
                Shmview__Hello h = SHMVIEW__HELLO__INIT;
                h.protocol_version = SHMV__PROTOCOL_VERSION;
                Shmview__Request req = SHMVIEW__REQUEST__INIT;
                req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
                req.hello = &h;
                th_raw_send(&conns[n], &req);
                Shmview__Response *resp = th_raw_recv(&conns[n], NULL);
                CHECK(resp != NULL);
                int status = resp->status;
                if (status) {
                        CHECK_EQ(status, EUSERS);
                        CHECK_GT(resp->message.len, 0);
                        CHECK(memmem(resp->message.data, resp->message.len, "max_clients", 11) !=
                              NULL);
                }
                shmview__response__free_unpacked(resp, NULL);
                if (status) {
                        CHECK(th_raw_wait_closed(&conns[n], TH_RAW_TIMEOUT_MS));
                        th_raw_close(&conns[n]);
                        break;
                }
        }
        CHECK_EQ(n, MAX_CLIENTS);
        shmv_client *c = NULL;
        CHECK_RC(shmv_connect(NULL, &c), -EUSERS);
        /* Connections that never speak while refused: at most 64 are kept, the oldest are
         * closed, and the daemon's descriptors stay bounded. */
        int base = th_daemon_fd_count();
        th_raw silent[100];
        for (int i = 0; i < 100; i++)
                th_raw_connect(&silent[i]);
        for (int i = 0; i < 36; i++)
                CHECK(th_raw_wait_closed(&silent[i], TH_RAW_TIMEOUT_MS));
        CHECK_LE(th_daemon_fd_count(), base + 64);
        for (int i = 0; i < 100; i++)
                th_raw_close(&silent[i]);
        for (int i = 0; i < n; i++)
                th_raw_close(&conns[i]);
        int r = -EUSERS;
        for (int i = 0; i < 300 && r == -EUSERS; i++) {
                r = shmv_connect(NULL, &c);
                if (r == -EUSERS)
                        th_sleep_ms(10);
        }
        CHECK_OK(r);
        shmv_disconnect(c);
}

struct quota_case {
        char a[64], b[64], c[64];
};

static void quota_child(void *arg)
{
        struct quota_case *q = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, q->a, 48 * MiB, 0));
        CHECK_RC(shmv_segment_create(c, q->b, 32 * MiB, 0), -EDQUOT);
        CHECK_OK(shmv_segment_create(c, q->b, 16 * MiB, 0));
        CHECK_RC(shmv_segment_create(c, q->c, 1, 0), -EDQUOT);
        /* Unlinked but still mapped, a segment still counts. */
        shmv_view *v = view_open(c, q->b, SHMV_READ);
        CHECK_OK(shmv_segment_unlink(c, q->b));
        CHECK_RC(shmv_segment_create(c, q->c, 1, 0), -EDQUOT);
        shmv_view_release(v);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, q->b, &info), -ENOENT); /* a round trip after release */
        CHECK_OK(shmv_segment_create(c, q->c, 16 * MiB, 0));
        shmv_disconnect(c); /* the segments stay, and count */
}

static void quota_count_child(void *arg)
{
        struct quota_case *q = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_unlink(c, q->a));
        CHECK_OK(shmv_segment_unlink(c, q->c));
        /* Segments are counted too: max_segments_per_uid of them, however small. */
        char name[80];
        for (int i = 0; i < MAX_SEGMENTS_PER_UID; i++) {
                snprintf(name, sizeof(name), "%s-%d", q->a, i);
                CHECK_OK(shmv_segment_create(c, name, 1, 0));
        }
        CHECK_RC(shmv_segment_create(c, q->c, 1, 0), -EDQUOT);
        for (int i = 0; i < MAX_SEGMENTS_PER_UID; i++) {
                snprintf(name, sizeof(name), "%s-%d", q->a, i);
                CHECK_OK(shmv_segment_unlink(c, name));
        }
        shmv_disconnect(c);
}

static void other_quota_child(void *arg)
{
        struct quota_case *q = arg;
        th_become(OTHER, OTHER);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, q->b, 32 * MiB, 0));
        CHECK_OK(shmv_segment_unlink(c, q->b));
        shmv_disconnect(c);
}

/* max_bytes_per_uid and max_segments_per_uid: -EDQUOT for the uid over them, while others
 * (and root) still create. */
static void test_bytes_per_uid(void)
{
        CHECK_STR(shmv_strerror(-EDQUOT),
                  "over this uid's quota (max_bytes_per_uid or max_segments_per_uid)");
        struct quota_case q;
        snprintf(q.a, sizeof(q.a), "%s", th_name("quota"));
        snprintf(q.b, sizeof(q.b), "%s", th_name("quota"));
        snprintf(q.c, sizeof(q.c), "%s", th_name("quota"));
        CHECK_EQ(th_in_child(quota_child, &q), 0);
        CHECK_EQ(th_in_child(other_quota_child, &q), 0);
        shmv_client *c = th_connect();
        char big[64];
        seg_create(c, big, "quota-root", 100 * MiB, 0);
        CHECK_OK(shmv_segment_unlink(c, big));
        CHECK_EQ(th_in_child(quota_count_child, &q), 0);
        shmv_disconnect(c);
}

/* A daemon of its own, for limits too small for the other tests: started with args on a
 * socket of its own, which SHMVIEW_SOCKET then names for this test's process and children. */
typedef struct own_daemon {
        pid_t pid;
        char dir[64];
        char sock[108];
} own_daemon;

static void own_daemon_start(own_daemon *d, const char *const *args)
{
        snprintf(d->dir, sizeof(d->dir), "/tmp/shmview-limits-XXXXXX");
        CHECK(mkdtemp(d->dir) != NULL);
        CHECK_EQ(chmod(d->dir, 0755), 0); /* other uids connect */
        snprintf(d->sock, sizeof(d->sock), "%s/s.sock", d->dir);
        const char *argv[32] = {SHMVIEWD_PATH, "--socket",    d->sock,  "--socket-mode",
                                "0666",        "--log-level", "warning"};
        size_t n = 7;
        for (; *args && n < 31; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        fflush(stdout);
        fflush(stderr);
        d->pid = fork();
        CHECK_GE(d->pid, 0);
        if (d->pid == 0) {
                /* Gone with the test, should a check fail first. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv(argv[0], (char **)(uintptr_t)argv);
                _exit(127);
        }
        CHECK_EQ(setenv("SHMVIEW_SOCKET", d->sock, 1), 0);
        for (int i = 0; i < 500; i++) {
                shmv_client *c = NULL;
                if (shmv_connect(NULL, &c) == 0) {
                        shmv_disconnect(c);
                        return;
                }
                CHECK_EQ(waitpid(d->pid, NULL, WNOHANG), 0);
                th_sleep_ms(10);
        }
        th_fail(__FILE__, __LINE__, "shmviewd did not answer on %s", d->sock);
}

/* SIGTERM; it must exit 0 (no sanitizer report, no leak). */
static void own_daemon_stop(own_daemon *d)
{
        CHECK_EQ(kill(d->pid, SIGTERM), 0);
        int st;
        CHECK_EQ(waitpid(d->pid, &st, 0), d->pid);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        unlink(d->sock);
        rmdir(d->dir);
}

static uint64_t bytes_used(shmv_client *c)
{
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        return st.bytes_used;
}

struct pages_case {
        char name[6][64]; /* uid 65534's */
        char want[512]; /* the message of its refused create */
};

static void pages_child(void *arg)
{
        struct pages_case *pc = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect();
        for (int i = 0; i < 4; i++)
                CHECK_OK(shmv_segment_create(c, pc->name[i], 1, 0));
        /* Four pages of max_bytes_per_uid are used up by four bytes. */
        CHECK_RC(shmv_segment_create(c, pc->name[4], 1, 0), -EDQUOT);
        CHECK_STR(shmv_last_error_message(), pc->want);
        CHECK_EQ(bytes_used(c), 4 * page_size());
        /* One unlinked, its page is back: for a segment of a whole page as for one byte. */
        CHECK_OK(shmv_segment_unlink(c, pc->name[0]));
        CHECK_EQ(bytes_used(c), 3 * page_size());
        CHECK_OK(shmv_segment_create(c, pc->name[4], page_size(), 0));
        CHECK_RC(shmv_segment_create(c, pc->name[5], 1, 0), -EDQUOT);
        shmv_disconnect(c); /* the segments stay, and count */
}

/* Segments are charged whole pages, as the kernel holds them, against max_bytes and
 * max_bytes_per_uid (and in bytes_used), while stat and list report their size. */
static void test_bytes_in_pages(void)
{
        const uint64_t page = page_size();
        char max_bytes[32], max_uid[32];
        snprintf(max_bytes, sizeof(max_bytes), "%" PRIu64, 8 * page);
        snprintf(max_uid, sizeof(max_uid), "%" PRIu64, 4 * page);
        const char *const args[] = {"--max-bytes", max_bytes, "--max-bytes-per-uid", max_uid, NULL};
        own_daemon d;
        own_daemon_start(&d, args);

        struct pages_case pc;
        for (int i = 0; i < 6; i++)
                snprintf(pc.name[i], sizeof(pc.name[i]), "%s", th_name("page-nobody"));
        /* max_segments_per_uid: half of the default max_segments, 33755, rounded up. */
        snprintf(pc.want, sizeof(pc.want),
                 "over the quota of uid %d: max_bytes_per_uid would be passed (max_bytes_per_uid "
                 "%" PRIu64 " with %" PRIu64 " in use, max_segments_per_uid 16878; 1 bytes, "
                 "charged %" PRIu64 " as whole pages for %s)",
                 NOBODY, 4 * page, 4 * page, page, pc.name[4]);
        CHECK_EQ(th_in_child(pages_child, &pc), 0);

        shmv_client *c = th_connect();
        CHECK_EQ(bytes_used(c), 4 * page);
        /* Root is bound by max_bytes alone: four more pages, of a byte each, fill it. */
        char name[5][64];
        for (int i = 0; i < 5; i++)
                snprintf(name[i], sizeof(name[i]), "%s", th_name("page-root"));
        for (int i = 0; i < 4; i++)
                CHECK_OK(shmv_segment_create(c, name[i], 1, 0));
        CHECK_EQ(bytes_used(c), 8 * page);
        CHECK_RC(shmv_segment_create(c, name[4], 1, 0), -ENOSPC);
        char want[256];
        snprintf(want, sizeof(want),
                 "out of memory budget: max_bytes would be passed (1 bytes, charged %" PRIu64
                 " as whole pages for %s)",
                 page, name[4]);
        CHECK_STR(shmv_last_error_message(), want);
        /* A segment's size is still its size. */
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name[0], &info));
        CHECK_EQ(info.size, 1);
        shmv_segment_info *all;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &all, &n));
        CHECK_EQ(n, 8);
        for (size_t i = 0; i < n; i++)
                CHECK_EQ(all[i].size, (strcmp(all[i].name, pc.name[4]) == 0 ? page : 1));
        shmv_segment_list_free(all);

        /* Unlinked, a page comes back to the total. */
        CHECK_OK(shmv_segment_unlink(c, name[0]));
        CHECK_EQ(bytes_used(c), 7 * page);
        CHECK_OK(shmv_segment_create(c, name[4], 1, 0));
        CHECK_RC(shmv_segment_create(c, name[0], 1, 0), -ENOSPC);
        for (int i = 1; i < 5; i++) {
                CHECK_OK(shmv_segment_unlink(c, name[i]));
                CHECK_OK(shmv_segment_unlink(c, pc.name[i]));
        }
        CHECK_EQ(bytes_used(c), 0);
        /* A page and a byte are two pages. */
        CHECK_OK(shmv_segment_create(c, name[0], 4 * page + 1, 0));
        CHECK_EQ(bytes_used(c), 5 * page);
        CHECK_OK(shmv_segment_unlink(c, name[0]));
        shmv_disconnect(c);
        own_daemon_stop(&d);
}

/* A raw connection to this test's own daemon (own_daemon_start() names its socket in
 * SHMVIEW_SOCKET), whose hello says the limit of views per uid. */
static void raw_connect_own(th_raw *r)
{
        th_raw_connect(r);
        Shmview__Response *resp;
        th_raw_hello(r, &resp);
        CHECK(resp->hello->limits);
        CHECK_EQ(resp->hello->limits->max_views_per_uid, 5);
        shmview__response__free_unpacked(resp, NULL);
}

#define VIEWS_MSG "too many views open by uid 65534 on all its connections (max_views_per_uid 5)"

static void views_uid_child(void *arg)
{
        const char *name = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *a = th_connect(), *b = th_connect();
        shmv_view *va[3], *vb[3];
        for (int i = 0; i < 3; i++)
                va[i] = view_open(a, name, SHMV_READ);
        vb[0] = view_open(b, name, SHMV_READ);
        vb[1] = view_open(b, name, RW);
        /* The sixth, on either connection, though each is under max_views_per_client (4). */
        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(b, name, 0, SHMV_TO_END, SHMV_READ, &v), -EMFILE);
        CHECK_STR(shmv_last_error_message(), VIEWS_MSG);
        CHECK_RC(shmv_view_open(a, name, 0, 1, RW, &v), -EMFILE);
        CHECK_STR(shmv_last_error_message(), VIEWS_MSG);

        /* A third connection is refused too; once a view is released (and the release done:
         * a round trip after it), its open goes through. */
        th_raw r;
        raw_connect_own(&r);
        Shmview__OpenRequest o;
        Shmview__Request req;
        th_raw_fill_open(&req, &o, name, strlen(name));
        Shmview__Response *resp;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EMFILE);
        shmv_view_release(va[0]);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(a, name, &info));
        int fd = -1;
        CHECK_OK(th_raw_call(&r, &req, &resp, &fd));
        Shmview__ReattachRequest ra = SHMVIEW__REATTACH_REQUEST__INIT;
        ra.name = o.name;
        ra.segment_id = resp->open->segment_id;
        ra.length = resp->open->length;
        shmview__response__free_unpacked(resp, NULL);
        close(fd);

        /* At the limit again: a reattach (after a daemon restart) is checked as an open, so
         * it is refused alike, and makes no view. */
        req.body_case = SHMVIEW__REQUEST__BODY_REATTACH;
        req.reattach = &ra;
        th_raw_send(&r, &req);
        resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->status, EMFILE);
        CHECK_NE(resp->body_case, SHMVIEW__RESPONSE__BODY_REATTACH);
        CHECK_EQ(resp->message.len, strlen(VIEWS_MSG));
        CHECK_MEM(resp->message.data, VIEWS_MSG, resp->message.len);
        shmview__response__free_unpacked(resp, NULL);
        CHECK_OK(shmv_segment_stat(a, name, &info));
        CHECK_EQ(info.views_ro, 4);
        CHECK_EQ(info.views_rw, 1);

        /* A disconnect gives its views back: the raw connection's one. */
        th_raw_close(&r);
        int rc = -EMFILE;
        for (int i = 0; i < 300 && rc == -EMFILE; i++) {
                rc = shmv_view_open(a, name, 0, SHMV_TO_END, SHMV_READ, &va[0]);
                if (rc == -EMFILE)
                        th_sleep_ms(10);
        }
        CHECK_OK(rc);
        /* Releasing one on a lets the next open through on b. */
        shmv_view_release(va[1]);
        CHECK_OK(shmv_segment_stat(a, name, &info));
        vb[2] = view_open(b, name, SHMV_READ);
        CHECK_RC(shmv_view_open(b, name, 0, SHMV_TO_END, SHMV_READ, &v), -EMFILE);
        /* And b's disconnect, with its three views still mapped here, gives them back. */
        shmv_disconnect(b);
        for (int i = 0; i < 3; i++)
                shmv_view_release(vb[i]);
        shmv_client *c = th_connect();
        shmv_view *vc[3];
        rc = -EMFILE;
        for (int i = 0; i < 300 && rc == -EMFILE; i++) {
                rc = shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &vc[0]);
                if (rc == -EMFILE)
                        th_sleep_ms(10);
        }
        CHECK_OK(rc);
        vc[1] = view_open(c, name, SHMV_READ);
        vc[2] = view_open(c, name, SHMV_READ);
        CHECK_RC(shmv_view_open(a, name, 0, SHMV_TO_END, SHMV_READ, &v), -EMFILE);
        CHECK_STR(shmv_last_error_message(), VIEWS_MSG);
        for (int i = 0; i < 3; i++)
                shmv_view_release(vc[i]);
        shmv_view_release(va[0]);
        shmv_view_release(va[2]);
        shmv_disconnect(c);
        shmv_disconnect(a);
}

struct views_other {
        const char *name;
        uid_t uid;
        int n; /* views to open, on two connections in turn */
};

static void views_other_child(void *arg)
{
        const struct views_other *vo = arg;
        if (vo->uid != 0)
                th_become(vo->uid, vo->uid);
        shmv_client *a = th_connect(), *b = th_connect();
        shmv_view *v[8];
        for (int i = 0; i < vo->n; i++)
                v[i] = view_open(i % 2 ? b : a, vo->name, SHMV_READ);
        for (int i = 0; i < vo->n; i++)
                shmv_view_release(v[i]);
        shmv_disconnect(a);
        shmv_disconnect(b);
}

/* uid 65534 at its limit, until told on go. */
static void views_holder(const char *name, int ready, int go)
{
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect(), *d = th_connect();
        shmv_view *v[5];
        for (int i = 0; i < 5; i++)
                v[i] = view_open(i % 2 ? d : c, name, SHMV_READ);
        shmv_view *more = NULL;
        CHECK_RC(shmv_view_open(d, name, 0, SHMV_TO_END, SHMV_READ, &more), -EMFILE);
        CHECK_EQ(write(ready, "r", 1), 1);
        char b;
        CHECK_EQ(read(go, &b, 1), 1);
        /* Still at its limit. */
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &more), -EMFILE);
        for (int i = 0; i < 5; i++)
                shmv_view_release(v[i]);
        shmv_disconnect(c);
        shmv_disconnect(d);
}

/* Waits until the daemon has seen every view of name released (releases are one-way). */
static void wait_no_views(shmv_client *c, const char *name)
{
        shmv_segment_info info = {0};
        for (int i = 0; i < 300; i++) {
                CHECK_OK(shmv_segment_stat(c, name, &info));
                if (info.views_ro == 0 && info.views_rw == 0)
                        return;
                th_sleep_ms(10);
        }
        th_fail(__FILE__, __LINE__, "%s: views still open", name);
}

/* max_views_per_uid: the views of one uid on all its connections together; EMFILE past it,
 * as past max_views_per_client, with a message naming it. Other uids, root and the daemon's
 * own uid are not bound by it. */
static void test_views_per_uid(void)
{
        const char *const args[] = {"--max-views-per-client", "4", "--max-views-per-uid", "5",
                                    NULL};
        own_daemon d;
        own_daemon_start(&d, args);
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "views-uid", page_size(), 0666);
        CHECK_EQ(th_in_child(views_uid_child, name), 0);
        wait_no_views(c, name);

        /* While uid 65534 holds its five, another uid opens its own five, and root eight
         * (bound by max_views_per_client alone). */
        int ready[2], go[2];
        CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
        CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
        fflush(stdout);
        fflush(stderr);
        pid_t holder = fork();
        CHECK_GE(holder, 0);
        if (holder == 0) {
                views_holder(name, ready[1], go[0]);
                _exit(0);
        }
        char b;
        CHECK_EQ(read(ready[0], &b, 1), 1);
        struct views_other other = {name, OTHER, 5}, root = {name, 0, 8};
        CHECK_EQ(th_in_child(views_other_child, &other), 0);
        CHECK_EQ(th_in_child(views_other_child, &root), 0);
        CHECK_EQ(write(go[1], "g", 1), 1);
        int st;
        CHECK_EQ(waitpid(holder, &st, 0), holder);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        for (int i = 0; i < 2; i++) {
                close(ready[i]);
                close(go[i]);
        }
        wait_no_views(c, name);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
        own_daemon_stop(&d);
}

/* What `ls` shows: names, sizes, owners and modes of all segments, to anyone who may connect
 * (as ls of a directory does); the bytes only to those the mode allows. */
static void list_child(void *arg)
{
        const char *name = arg;
        th_become(NOBODY, NOBODY);
        shmv_client *c = th_connect();
        shmv_segment_info *all;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &all, &n));
        bool seen = false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(all[i].name, name) == 0)
                        seen = all[i].uid == 0 && all[i].mode == 0600 && all[i].size == 4096;
        shmv_segment_list_free(all);
        CHECK(seen);
        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v), -EACCES);
        shmv_disconnect(c);
}

static void test_list_visibility(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "private", 4096, 0600);
        CHECK_EQ(th_in_child(list_child, name), 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_readonly_routes),
                TH_TEST(test_writer_routes),
                TH_TEST(test_sealed),
                TH_TEST(test_socket_modes),
                TH_TEST(test_socket_paths),
                TH_TEST(test_nofile_raised),
                TH_TEST(test_limits_advertised),
                TH_TEST(test_readonly_fd_exhausted),
                TH_TEST(test_clients_per_uid),
                TH_TEST(test_bytes_per_uid),
                TH_TEST(test_bytes_in_pages),
                TH_TEST(test_views_per_uid),
                TH_TEST(test_list_visibility),
        };
        static const char *const args[] = {"--max-clients",
                                           "24",
                                           "--max-clients-per-uid",
                                           "8",
                                           "--max-bytes",
                                           "1G",
                                           "--max-bytes-per-uid",
                                           "64M",
                                           "--max-segments-per-uid",
                                           "16",
                                           "--max-frame",
                                           "64K",
                                           "--stall-timeout",
                                           "2000",
                                           NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}
