/* Access control and what a client can do to others, as unprivileged uids (65534, 65533):
 * every route a read-only holder has to change a segment, what a writer can and cannot do,
 * the daemon's socket (modes, group, symlinks, paths it does not own), its descriptor limit,
 * and the per-uid limits. docs/security.md lists each route and names its test here. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
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
        memset(shmv_view_data_mut(w), byte, shmv_view_nbytes(w));
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

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
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
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        fcntl(fd, F_SETFL, O_RDWR);
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);

        /* A writable shared mapping, directly or by mprotect. */
        CHECK(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
              errno == EACCES);
        CHECK(mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE, fd, 0) == MAP_FAILED &&
              errno == EACCES);
        char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED);
        CHECK_ERRNO(mprotect(p, size, PROT_READ | PROT_WRITE), EACCES);
        /* Punching the pages out through the mapping. */
        CHECK_ERRNO(madvise(p, size, MADV_REMOVE), EACCES);
        /* Writing through /proc/self/mem, which may write to read-only private mappings. */
        int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
        if (mem >= 0) {
                CHECK(pwrite(mem, "M", 1, (off_t)(uintptr_t)p) < 0);
                close(mem);
        }
        /* A private writable mapping works, but is a copy: the segment does not change. */
        char *priv = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        CHECK(priv != MAP_FAILED);
        priv[0] = 'P';
        CHECK(p[0] != 'P');
        munmap(priv, size);

        /* write, pwrite, splice, copy_file_range. */
        CHECK_ERRNO(write(fd, "x", 1), EBADF);
        CHECK_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
        struct iovec iov = {.iov_base = "x", .iov_len = 1};
        CHECK_ERRNO(pwritev2(fd, &iov, 1, 0, 0), EBADF);
        int pipefd[2];
        CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
        CHECK(write(pipefd[1], "s", 1) == 1);
        loff_t off = 0;
        CHECK_ERRNO(splice(pipefd[0], NULL, fd, &off, 1, 0), EBADF);
        close(pipefd[0]);
        close(pipefd[1]);
        int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        CHECK(src >= 0);
        CHECK(copy_file_range(src, NULL, fd, &off, 1, 0) < 0 && (errno == EBADF || errno == EXDEV));
        close(src);

        /* Size and pages: ftruncate, fallocate (allocate, grow, punch). */
        CHECK(ftruncate(fd, 0) < 0 && (errno == EINVAL || errno == EBADF));
        CHECK(ftruncate(fd, (off_t)size * 2) < 0 && (errno == EINVAL || errno == EBADF));
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
        CHECK(ioctl(fd, FS_IOC_SETFLAGS, &iflags) < 0);
        CHECK(fsetxattr(fd, "user.shmview", "x", 1, 0) < 0);

        /* Opening the same memfd again, writable: through our own descriptor, through the
         * daemon's, through our mapping. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
        CHECK_ERRNO(open(path, O_WRONLY | O_CLOEXEC), EACCES);
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)th_daemon_pid());
        CHECK(opendir(path) == NULL && errno == EACCES);
        for (int n = 0; n < 64; n++) {
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)th_daemon_pid(), n);
                CHECK(open(path, O_RDWR | O_CLOEXEC) < 0 && errno == EACCES);
        }
        snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)p,
                 (unsigned long)(uintptr_t)p + size);
        int mf = open(path, O_RDWR | O_CLOEXEC);
        CHECK(mf < 0 && (errno == EPERM || errno == EACCES));

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
                CHECK(opendir(path) == NULL && (errno == EACCES || errno == EPERM));
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
        CHECK(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &frame, &frame_len) == 0);
        th_raw_send_with_fds(&r, frame, frame_len, &fd, 1);
        free(frame);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp && resp->id == 1000 && resp->status == 0);
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
        CHECK(pipe2(ready, O_CLOEXEC) == 0 && pipe2(go, O_CLOEXEC) == 0);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                th_become(NOBODY, NOBODY);
                shmv_client *c = th_connect();
                shmv_view *w = view_open(c, name, RW);
                CHECK(write(ready[1], "r", 1) == 1);
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
        CHECK(read(ready[0], &b, 1) == 1);
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
        CHECK(th_in_child(attack_readonly, &t) == 0);
        CHECK(all_bytes(w, 'k'));
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, t.name, &info));
        CHECK(info.size == t.size && !info.sealed);
        /* The attempts to seal changed nothing: the owner still seals. */
        shmv_view_release(w);
        CHECK_OK(shmv_segment_seal(c, t.name));
        CHECK_OK(shmv_segment_unlink(c, t.name));

        struct target u = {.size = 3 * page_size(), .uid = OTHER, .gid = OTHER};
        snprintf(u.name, sizeof(u.name), "%s", th_name("ro-nobody"));
        CHECK(th_in_child(create_as_nobody, &u) == 0);
        int go;
        u.writer = start_writer(u.name, &go);
        CHECK(th_in_child(attack_readonly, &u) == 0);
        close(go);
        int st;
        waitpid(u.writer, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
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
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
        off_t size = (off_t)wc->size;
        struct stat st;
        switch (wc->what) {
        case WRITER_SIZE:
                /* No shrinking, no growing, not even reserving past the end. */
                CHECK_ERRNO(ftruncate(fd, 0), EPERM);
                CHECK_ERRNO(ftruncate(fd, size - 1), EPERM);
                CHECK_ERRNO(ftruncate(fd, size + 1), EPERM);
                CHECK_ERRNO(fallocate(fd, 0, size, 4096), EPERM);
                CHECK_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, size, 1 << 20), EPERM);
                CHECK_ERRNO(fchmod(fd, 0666), EPERM);
                CHECK_ERRNO(fchown(fd, NOBODY, NOBODY), EPERM);
                CHECK(fstat(fd, &st) == 0 && st.st_size == size);
                break;
        case WRITER_PUNCH: {
                /* Allowed to whoever may write: the bytes read as zeros, as if written. */
                off_t page = (off_t)page_size();
                CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, page) == 0);
                char *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                CHECK(p != MAP_FAILED);
                CHECK(madvise(p + page, (size_t)page, MADV_REMOVE) == 0);
                munmap(p, (size_t)size);
                break;
        }
        case WRITER_FUTURE_WRITE: {
                char *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                CHECK(p != MAP_FAILED);
                CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0);
                p[0] = 'F'; /* the mapping made before still writes */
                CHECK_ERRNO(write(fd, "x", 1), EPERM);
                munmap(p, (size_t)size);
                break;
        }
        case WRITER_SEAL_SEAL:
                CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0);
                break;
        case WRITER_SEAL_WRITE:
                CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0);
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
        CHECK(fstat(fd, &st) == 0);
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
        CHECK(th_in_child(writer_child, &wc) == 0);
        CHECK(all_bytes(v, 'z'));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_PUNCH);
        v = view_open(c, wc.name, RW);
        fill(v, 'h');
        blkcnt_t full = blocks_of(&raw, wc.name);
        shmv_view *r = view_open(c, wc.name, SHMV_READ);
        CHECK(th_in_child(writer_child, &wc) == 0);
        const char *p = shmv_view_data(r);
        for (size_t i = 0; i < wc.size; i++)
                CHECK(p[i] == (i < 2 * page_size() ? 0 : 'h'));
        /* Touching the holes again was enough to allocate them; punch again and seal. */
        shmv_view_release(v);
        shmv_view_release(r);
        CHECK(th_in_child(writer_child, &wc) == 0);
        CHECK(blocks_of(&raw, wc.name) < full);
        CHECK_OK(shmv_segment_seal(c, wc.name));
        CHECK(blocks_of(&raw, wc.name) == full);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_FUTURE_WRITE);
        CHECK(th_in_child(writer_child, &wc) == 0);
        v = NULL;
        CHECK_RC(shmv_view_open(c, wc.name, 0, SHMV_TO_END, RW, &v), -EPERM);
        v = view_open(c, wc.name, SHMV_READ);
        CHECK(((const char *)shmv_view_data(v))[0] == 'F');
        shmv_view_release(v);
        CHECK_OK(shmv_segment_seal(c, wc.name));
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_SEAL_SEAL);
        CHECK(th_in_child(writer_child, &wc) == 0);
        CHECK_RC(shmv_segment_seal(c, wc.name), -EPERM);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, wc.name, &info));
        CHECK(!info.sealed);
        v = view_open(c, wc.name, RW); /* still writable for those allowed */
        fill(v, 'w');
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, wc.name));

        run_writer(&wc, c, WRITER_SEAL_WRITE);
        CHECK(th_in_child(writer_child, &wc) == 0);
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
        CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
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
                sleep_ms(10);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.sealed);
        CHECK_ERRNO(write(fd, "x", 1), EPERM);
        CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
              errno == EPERM);
        close(fd);
        CHECK(th_in_child(sealed_writer, name) == 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* ---- The socket ---- */

static char sock_dir[40];

static void make_dir(uid_t owner, mode_t mode)
{
        snprintf(sock_dir, sizeof(sock_dir), "/tmp/shmview-sec-XXXXXX");
        CHECK(mkdtemp(sock_dir));
        CHECK(chown(sock_dir, owner, owner) == 0);
        CHECK(chmod(sock_dir, mode) == 0);
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
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
                int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
                close(fd);
                if (r == 0)
                        return pid;
                sleep_ms(10);
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
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
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
        CHECK(th_in_child(connect_child, &a) == 0);
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
        CHECK(pid > 0);
        struct stat sb;
        CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));
        CHECK((sb.st_mode & 07777) == 0600 && sb.st_uid == NOBODY);
        check_connect(path, NOBODY, NOBODY, 0);
        check_connect(path, OTHER, NOBODY, -EACCES);
        daemon_end(pid);
        CHECK(lstat(path, &sb) < 0 && errno == ENOENT);
        remove_dir();

        make_dir(0, 0755);
        snprintf(path, sizeof(path), "%s/system.sock", sock_dir);
        struct daemon_run sys = {{SHMVIEWD_PATH, "--socket", path, "--socket-group", "65533", NULL},
                                 .uid = 0};
        pid = daemon_run(&sys, path, &st);
        CHECK(pid > 0);
        CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));
        CHECK((sb.st_mode & 07777) == 0660 && sb.st_uid == 0 && sb.st_gid == OTHER);
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
        CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
        close(fd);
        CHECK(symlink(target, path) == 0);
        CHECK(daemon_run(&d, path, &st) < 0 && st == 1);
        CHECK(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode));
        CHECK(stat(target, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 4);
        unlink(target);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        close(fd);
        CHECK(daemon_run(&d, path, &st) < 0 && st == 1);
        CHECK(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode));
        CHECK(lstat(target, &sb) == 0 && S_ISSOCK(sb.st_mode));
        unlink(path);

        /* A stale socket of another uid. */
        CHECK(rename(target, path) == 0);
        CHECK(lchown(path, NOBODY, NOBODY) == 0);
        CHECK(daemon_run(&d, path, &st) < 0 && st == 1);
        CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_uid == NOBODY);
        /* Ours, it is replaced. */
        CHECK(lchown(path, 0, 0) == 0);
        pid_t pid = daemon_run(&d, path, &st);
        CHECK(pid > 0);
        daemon_end(pid);
        remove_dir();

        /* Directories: writable by all without the sticky bit, or another uid's. */
        make_dir(0, 0777);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        CHECK(daemon_run(&d, path, &st) < 0 && st == 1);
        CHECK(lstat(path, &sb) < 0);
        CHECK(chmod(sock_dir, 01777) == 0); /* like /tmp */
        pid = daemon_run(&d, path, &st);
        CHECK(pid > 0);
        daemon_end(pid);
        remove_dir();
        make_dir(NOBODY, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        CHECK(daemon_run(&d, path, &st) < 0 && st == 1);
        CHECK(lstat(path, &sb) < 0);
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
 * CAP_SYS_RESOURCE the hard one too, to what its limits may need (up to 2 per segment, 1 per
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
        CHECK(pid > 0);
        nofile_of(pid, &soft, &hard);
        if (may_raise_hard)
                CHECK(soft == hard && hard >= 2 * 4096 + 1000);
        else
                CHECK(soft == 4096 && hard == 4096);
        daemon_end(pid);
        remove_dir();

        make_dir(NOBODY, 0755);
        snprintf(path, sizeof(path), "%s/s.sock", sock_dir);
        struct daemon_run user = root;
        user.uid = NOBODY;
        pid = daemon_run(&user, path, &st);
        CHECK(pid > 0);
        nofile_of(pid, &soft, &hard);
        CHECK(soft == 4096 && hard == 4096);
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
        const char *fresh; /* no read-only view opened yet */
        const char *seen; /* has had one */
};

static void exhausted_child(void *arg)
{
        struct exhausted *x = arg;
        /* The first read-only open of fresh needs a descriptor the daemon cannot have. */
        Shmview__OpenRequest o = SHMVIEW__OPEN_REQUEST__INIT;
        o.name.data = (uint8_t *)(uintptr_t)x->fresh;
        o.name.len = strlen(x->fresh);
        o.length = UINT64_MAX;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &o;
        uint64_t id = th_raw_send(x->r, &req);
        int fd;
        Shmview__Response *resp = th_raw_recv(x->r, &fd);
        CHECK(resp && resp->id == id && fd < 0);
        CHECK(resp->status == ENFILE && resp->body_case == SHMVIEW__RESPONSE__BODY__NOT_SET);
        char msg[512], want[512];
        snprintf(msg, sizeof(msg), "%.*s", (int)resp->message.len,
                 (const char *)resp->message.data);
        snprintf(want, sizeof(want), "the daemon cannot open segment %s read-only: %s", x->fresh,
                 strerror(EMFILE));
        CHECK_STR(msg, want);
        shmview__response__free_unpacked(resp, NULL);

        /* Nothing else needs one: writable opens, read-only opens of a segment that has its
         * read-only descriptor already, other requests, other clients. */
        uint64_t vid;
        CHECK_OK(th_raw_open(x->r, x->fresh, strlen(x->fresh), 0, UINT64_MAX, true, &vid, &fd));
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
        close(fd);
        th_raw_release(x->r, vid);
        CHECK_OK(th_raw_open(x->other, x->seen, strlen(x->seen), 0, UINT64_MAX, false, &vid, &fd));
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        close(fd);
        th_raw_release(x->other, vid);
        CHECK_OK(th_raw_named(x->other, SHMVIEW__REQUEST__BODY_STAT, x->fresh, strlen(x->fresh)));
        CHECK_RC(th_raw_open(x->other, x->fresh, strlen(x->fresh), 0, 1, false, NULL, NULL),
                 -ENFILE);
}

/* A segment's read-only descriptor is opened at its first read-only open: when the daemon is
 * out of descriptors then, that open gets ENFILE and a message saying so, and nothing else
 * fails. Once the daemon has descriptors again, the same open works. */
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
        CHECK_OK(th_raw_named(&r, SHMVIEW__REQUEST__BODY_STAT, seen, strlen(seen)));

        /* The soft limit at the daemon's lowest free descriptor: it cannot open another. */
        pid_t pid = th_daemon_pid();
        struct rlimit old, low;
        CHECK(prlimit(pid, RLIMIT_NOFILE, NULL, &old) == 0);
        low = old;
        low.rlim_cur = (rlim_t)lowest_free_fd(pid);
        CHECK(prlimit(pid, RLIMIT_NOFILE, &low, NULL) == 0);
        struct exhausted x = {&r, &other, fresh, seen};
        int st = th_in_child(exhausted_child, &x);
        CHECK(prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0);
        CHECK(st == 0);

        int fd;
        CHECK_OK(th_raw_open(&r, fresh, strlen(fresh), 0, UINT64_MAX, false, NULL, &fd));
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
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
        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        Shmview__Response *resp;
        CHECK_OK(th_raw_call(&r, &req, &resp, NULL));
        const Shmview__Limits *l = resp->hello->limits;
        CHECK(l != NULL);
        CHECK(l->max_frame == 65536 && l->max_fds_per_message == 1);
        CHECK(l->max_clients == MAX_CLIENTS && l->max_clients_per_uid == MAX_CLIENTS_PER_UID);
        CHECK(l->max_bytes_per_uid == MAX_BYTES_PER_UID && l->max_bytes == 1024 * MiB);
        CHECK(l->max_views_per_client == 4096 && l->max_segments == 65536);
        CHECK(l->max_segments_per_uid == MAX_SEGMENTS_PER_UID);
        CHECK(l->stall_timeout_ms == 2000 && l->max_name_len == 255);
        /* The list page fits max_frame: 65536 / 320 entries of at most 320 bytes. */
        CHECK(l->list_page_size > 0 && l->list_page_size * 320u + 64u <= l->max_frame);
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
        CHECK(resp && resp->status == EOPNOTSUPP);
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
                                sleep_ms(10);
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
        CHECK(th_in_child(clients_child, &nobody) == 0);
        struct clients_case fill_ok = {NOBODY, MAX_CLIENTS_PER_UID, 0};
        CHECK(th_in_child(clients_child, &fill_ok) == 0);
        struct clients_case root = {0, MAX_CLIENTS_PER_UID + 4, 0};
        CHECK(th_in_child(clients_child, &root) == 0);

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
                        CHECK(status == EUSERS && resp->message.len > 0 &&
                              memmem(resp->message.data, resp->message.len, "max_clients", 11) !=
                                      NULL);
                }
                shmview__response__free_unpacked(resp, NULL);
                if (status) {
                        CHECK(th_raw_wait_closed(&conns[n], TH_RAW_TIMEOUT_MS));
                        th_raw_close(&conns[n]);
                        break;
                }
        }
        CHECK(n == MAX_CLIENTS);
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
        CHECK(th_daemon_fd_count() <= base + 64);
        for (int i = 0; i < 100; i++)
                th_raw_close(&silent[i]);
        for (int i = 0; i < n; i++)
                th_raw_close(&conns[i]);
        int r = -EUSERS;
        for (int i = 0; i < 300 && r == -EUSERS; i++) {
                r = shmv_connect(NULL, &c);
                if (r == -EUSERS)
                        sleep_ms(10);
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
        CHECK_STR(shmv_strerror(-EDQUOT), "over the memory quota of this uid (max_bytes_per_uid)");
        struct quota_case q;
        snprintf(q.a, sizeof(q.a), "%s", th_name("quota"));
        snprintf(q.b, sizeof(q.b), "%s", th_name("quota"));
        snprintf(q.c, sizeof(q.c), "%s", th_name("quota"));
        CHECK(th_in_child(quota_child, &q) == 0);
        CHECK(th_in_child(other_quota_child, &q) == 0);
        shmv_client *c = th_connect();
        char big[64];
        seg_create(c, big, "quota-root", 100 * MiB, 0);
        CHECK_OK(shmv_segment_unlink(c, big));
        CHECK(th_in_child(quota_count_child, &q) == 0);
        shmv_disconnect(c);
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
        CHECK(th_in_child(list_child, name) == 0);
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
