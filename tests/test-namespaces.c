/* Clients in other namespaces, as in containers (docs/containers.md): only the socket is
 * shared. A client in fresh PID, IPC, mount, network and UTS namespaces, and one in a user
 * namespace whose root is uid 65534 outside, each as the daemon sees it: the permission
 * checks use the credentials the kernel translates into the daemon's namespaces
 * (SO_PEERCRED), and `shmview` shows pids only where they name processes for its reader. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef SHMVIEW_CLI_PATH
#error SHMVIEW_CLI_PATH must name the shmview tool
#endif

#define SIZE 8192

static void fill(shmv_client *c, const char *name, char byte)
{
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        memset(th_data_mut(v), byte, SIZE);
        shmv_view_release(v);
}

static void check_filled(shmv_client *c, const char *name, char byte)
{
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        const char *p = shmv_view_data(v);
        for (size_t i = 0; i < SIZE; i++)
                CHECK(p[i] == byte);
        shmv_view_release(v);
}

/* Runs the shmview tool with args; returns its standard output (malloc()ed). */
static char *run_cli(const char *args)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "%s %s", SHMVIEW_CLI_PATH, args);
        FILE *p = popen(cmd, "re");
        CHECK(p != NULL);
        size_t cap = 65536, len = 0;
        char *out = malloc(cap);
        CHECK(out != NULL);
        size_t n;
        while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0)
                len += n;
        out[len] = '\0';
        CHECK(pclose(p) == 0);
        return out;
}

/* The "pid" of every client in `shmview clients --json` output: want_null says whether each
 * must be null (pids of another namespace), else a number; returns how many there were. */
static int check_json_pids(const char *json, bool want_null)
{
        int n = 0;
        for (const char *p = json; (p = strstr(p, "\"pid\"")); n++) {
                p += 5;
                while (*p == ':' || *p == ' ')
                        p++;
                if (want_null != (strncmp(p, "null", 4) == 0))
                        th_fail(__FILE__, __LINE__, "a pid is %.12s in %s", p, json);
        }
        return n;
}

/* The pid the daemon reports for this process's own connection. */
static uint32_t pid_seen_by_daemon(shmv_client *c)
{
        shmv_client_info *list;
        size_t n;
        CHECK_OK(shmv_client_list(c, &list, &n));
        uint32_t pid = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
                if (list[i].self)
                        pid = list[i].client.pid;
        shmv_client_list_free(list);
        CHECK(pid != UINT32_MAX);
        return pid;
}

typedef struct shared {
        char root_ro[64]; /* root's, 0644 */
        char root_private[64]; /* root's, 0600 */
        char mine[64]; /* created by the client in the namespaces */
        int to_parent[2]; /* the client says it is connected and holds a view */
        int to_child[2]; /* the parent has looked */
} shared;

/* Unlinks the three segments a test made, those that exist. */
static void remove_segments(shmv_client *c, const shared *sh)
{
        (void)shmv_segment_unlink(c, sh->mine);
        (void)shmv_segment_unlink(c, sh->root_ro);
        (void)shmv_segment_unlink(c, sh->root_private);
}

/* In fresh PID (as its PID 1), IPC, mount, network and UTS namespaces, as uid 65534. */
static void isolated_client(void *arg)
{
        shared *sh = arg;
        CHECK(getpid() == 1);
        char host[64];
        CHECK(gethostname(host, sizeof(host)) == 0);
        CHECK_STR(host, "shmview-test");
        /* This namespace's own /proc, as a container has: the host's names other processes
         * under these pids (LeakSanitizer in the shmview runs below reads /proc/PID/task). */
        CHECK(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0);
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        /* The daemon sees this process under its pid outside, never as 1, and its hello said
         * so. */
        CHECK(pid_seen_by_daemon(c) > 1);
        CHECK_EQ(shmv_client_pids_shared(c), 0);
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        CHECK_EQ(shmv_watch_pids_shared(w), 0);
        shmv_watch_close(w);
        check_filled(c, sh->root_ro, 'r');
        shmv_view *v;
        CHECK_RC(shmv_view_open(c, sh->root_ro, 0, 1, SHMV_READ | SHMV_WRITE, &v), -EACCES);
        CHECK_RC(shmv_view_open(c, sh->root_private, 0, 1, SHMV_READ, &v), -EACCES);
        CHECK_RC(shmv_segment_unlink(c, sh->root_ro), -EPERM);
        CHECK_OK(shmv_segment_create(c, sh->mine, SIZE, 0640));
        fill(c, sh->mine, 'm');
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, sh->mine, &info));
        CHECK(info.uid == 65534 && info.gid == 65534 && info.mode == 0640);

        /* shmview here cannot name the daemon's pids: it shows none. */
        char *out = run_cli("clients --json");
        CHECK(check_json_pids(out, true) >= 2);
        free(out);
        out = run_cli("clients");
        CHECK(strstr(out, "\n -  ") || strstr(out, "  -  "));
        free(out);

        CHECK_OK(shmv_view_open(c, sh->mine, 0, SHMV_TO_END, SHMV_READ, &v));
        /* Nor the pid of the view it holds itself, in stat. */
        char args[128];
        snprintf(args, sizeof(args), "stat %s --json", sh->mine);
        out = run_cli(args);
        CHECK_EQ(check_json_pids(out, true), 1);
        free(out);
        CHECK(write(sh->to_parent[1], "c", 1) == 1);
        char ch;
        CHECK(read(sh->to_child[0], &ch, 1) == 1);
        shmv_view_release(v);
        shmv_disconnect(c);
}

static void in_namespaces(void *arg)
{
        if (unshare(CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS) < 0) {
                if (errno == EPERM)
                        _exit(TH_SKIP); /* a container that may not make namespaces */
                th_fail(__FILE__, __LINE__, "unshare: %s", strerror(errno));
        }
        CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
        CHECK(sethostname("shmview-test", 12) == 0);
        /* The new PID namespace is for the children: the next one is its PID 1. */
        int st = th_in_child(isolated_client, arg);
        if (st != 0)
                th_fail(__FILE__, __LINE__, "the client in the namespaces failed (%d)", st);
}

static void test_isolated_namespaces(void)
{
        shared sh;
        snprintf(sh.root_ro, sizeof(sh.root_ro), "%s", th_name("ro"));
        snprintf(sh.root_private, sizeof(sh.root_private), "%s", th_name("private"));
        snprintf(sh.mine, sizeof(sh.mine), "%s", th_name("mine"));
        CHECK(pipe2(sh.to_parent, O_CLOEXEC) == 0 && pipe2(sh.to_child, O_CLOEXEC) == 0);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, sh.root_ro, SIZE, 0644));
        fill(c, sh.root_ro, 'r');
        CHECK_OK(shmv_segment_create(c, sh.root_private, SIZE, 0600));

        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                in_namespaces(&sh);
                _exit(0);
        }
        close(sh.to_parent[1]); /* a client that fails is seen at once */
        close(sh.to_child[0]);
        char ch;
        if (read(sh.to_parent[0], &ch, 1) != 1) {
                int st;
                CHECK(waitpid(pid, &st, 0) == pid);
                remove_segments(c, &sh);
                if (WIFEXITED(st) && WEXITSTATUS(st) == TH_SKIP)
                        th_skip("no namespaces can be made here (unshare: EPERM)");
                th_fail(__FILE__, __LINE__, "the client in the namespaces failed (0x%x)", st);
        }

        /* From here (the daemon's namespaces), the client is a process like any: its
         * segment is 65534's, its view counted under its pid here. */
        check_filled(c, sh.mine, 'm');
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, sh.mine, &info));
        CHECK(info.uid == 65534 && info.views_ro == 1);
        shmv_view_info *views;
        size_t n;
        CHECK_OK(shmv_segment_views(c, sh.mine, &views, &n));
        CHECK(n == 1);
        pid_t holder = (pid_t)views[0].client.pid;
        shmv_segment_views_free(views);
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%d/status", (int)holder);
        FILE *f = fopen(path, "re");
        CHECK(f != NULL);
        char line[256];
        bool nspid = false;
        while (fgets(line, sizeof(line), f)) {
                int outer, inner;
                if (sscanf(line, "NSpid: %d %d", &outer, &inner) == 2)
                        nspid = outer == (int)holder && inner == 1;
                if (strncmp(line, "Name:", 5) == 0)
                        sscanf(line, "Name: %31s", comm);
        }
        fclose(f);
        CHECK(nspid); /* the daemon named it by its pid here; it is 1 in its own namespace */
        char *out = run_cli("clients --json");
        CHECK(check_json_pids(out, false) >= 2);
        char want[32];
        snprintf(want, sizeof(want), "\"pid\":%d", (int)holder);
        char want_spaced[32];
        snprintf(want_spaced, sizeof(want_spaced), "\"pid\": %d", (int)holder);
        CHECK(strstr(out, want) || strstr(out, want_spaced));
        free(out);

        CHECK(write(sh.to_child[1], "p", 1) == 1);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK_OK(shmv_segment_unlink(c, sh.mine));
        CHECK_OK(shmv_segment_unlink(c, sh.root_ro));
        CHECK_OK(shmv_segment_unlink(c, sh.root_private));
        shmv_disconnect(c);
        close(sh.to_parent[0]);
        close(sh.to_child[1]);
}

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
}

/* uid 65534 outside, root inside its own user namespace (as `unshare --user
 * --map-root-user` makes it, or a rootless container): the daemon sees 65534. */
static void userns_client(void *arg)
{
        shared *sh = arg;
        th_become(65534, 65534);
        /* A change of uid made /proc/self root's; the maps below are ours to write. */
        CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
        if (unshare(CLONE_NEWUSER) < 0)
                _exit(TH_SKIP); /* not allowed to unprivileged users here */
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/uid_map", "0 65534 1");
        write_file("/proc/self/gid_map", "0 65534 1");
        CHECK(getuid() == 0 && geteuid() == 0);

        shmv_client *c = th_connect();
        shmv_view *v;
        /* Root in here is not root to the daemon. */
        CHECK_RC(shmv_view_open(c, sh->root_private, 0, 1, SHMV_READ, &v), -EACCES);
        CHECK_RC(shmv_view_open(c, sh->root_ro, 0, 1, SHMV_READ | SHMV_WRITE, &v), -EACCES);
        CHECK_RC(shmv_segment_unlink(c, sh->root_ro), -EPERM);
        CHECK_RC(shmv_segment_seal(c, sh->root_ro), -EPERM);
        check_filled(c, sh->root_ro, 'r');
        /* What it creates is 65534's, and it may do with it what an owner may. */
        CHECK_OK(shmv_segment_create(c, sh->mine, SIZE, 0600));
        fill(c, sh->mine, 'u');
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, sh->mine, &info));
        CHECK(info.uid == 65534 && info.gid == 65534);
        CHECK_OK(shmv_segment_seal(c, sh->mine));
        shmv_client_info *list;
        size_t n;
        CHECK_OK(shmv_client_list(c, &list, &n));
        for (size_t i = 0; i < n; i++)
                if (list[i].self)
                        CHECK(list[i].client.uid == 65534);
        shmv_client_list_free(list);
        /* Same PID namespace: shmview shows the pids. Owners are the daemon's uids. */
        CHECK_EQ(shmv_client_pids_shared(c), 1);
        char *out = run_cli("clients --json");
        CHECK(check_json_pids(out, false) >= 2);
        free(out);
        char args[128];
        snprintf(args, sizeof(args), "stat %s --json", sh->mine);
        out = run_cli(args);
        CHECK(strstr(out, "\"uid\": 65534") || strstr(out, "\"uid\":65534"));
        free(out);
        shmv_disconnect(c);
}

static void test_user_namespace(void)
{
        shared sh;
        snprintf(sh.root_ro, sizeof(sh.root_ro), "%s", th_name("ro"));
        snprintf(sh.root_private, sizeof(sh.root_private), "%s", th_name("private"));
        snprintf(sh.mine, sizeof(sh.mine), "%s", th_name("mine"));
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, sh.root_ro, SIZE, 0644));
        fill(c, sh.root_ro, 'r');
        CHECK_OK(shmv_segment_create(c, sh.root_private, SIZE, 0600));
        int st = th_in_child(userns_client, &sh);
        if (st == TH_SKIP) {
                remove_segments(c, &sh);
                th_skip("uid 65534 may not make a user namespace here");
        }
        if (st != 0)
                th_fail(__FILE__, __LINE__, "the client in the user namespace failed (%d)", st);
        /* Outside: 65534's sealed segment, with its bytes. */
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, sh.mine, &info));
        CHECK(info.uid == 65534 && info.sealed && info.mode == 0600);
        check_filled(c, sh.mine, 'u');
        CHECK_OK(shmv_segment_unlink(c, sh.mine));
        CHECK_OK(shmv_segment_unlink(c, sh.root_ro));
        CHECK_OK(shmv_segment_unlink(c, sh.root_private));
        shmv_disconnect(c);
}

static const th_test tests[] = {
        TH_TEST(test_isolated_namespaces),
        TH_TEST(test_user_namespace),
};

int main(int argc, char **argv)
{
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
