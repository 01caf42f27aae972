/* whosock.c -- the control socket of "ssftpd who": the server's end
 * (libsocketserver, SS_UNIX_STREAM) and the asking end (who.h).
 *
 * ROOT/run/ssftpd.PID.sock, one per server on the data root.  A helper
 * process of the server answers each connection with one JSON line and
 * closes; it reads nothing.
 * A socket left by a server that was killed is recognised (connect is
 * refused, or its PID is gone) and removed by the next server or by who.
 * sun_path holds 107 bytes: a longer path is reached through the run
 * directory's descriptor, /proc/self/fd/N/NAME.
 */
#include "who.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "log_server.h"
#include "socketserver.h"
#include "sysutil.h"

/* A peer gets this long to take the answer. */
#define WHOSOCK_IO_MS 2000
/* The asking end: at most this much from one server (a full registry of
 * the largest --max-clients is far below it). */
#define WHOSOCK_ANSWER_MAX (64u << 20)

struct whosock {
    ss_server *server;
    pid_t helper; /* the process that serves it, or 0 */
    int dirfd;    /* ROOT/run */
    struct who *who;
    pid_t owner; /* the server (not its forked children) */
    char name[64];
    char path[4300];
};

/* ---- names ----------------------------------------------------------- */

/* "ssftpd.PID.sock": the PID, else 0. */
static pid_t sock_pid(const char *name)
{
    unsigned long pid;
    int end = 0;
    if (sscanf(name, "ssftpd.%lu.sock%n", &pid, &end) != 1 ||
        name[end] != '\0' || pid == 0 || pid > 0x7fffffff)
        return 0;
    return (pid_t)pid;
}

/* A path to NAME in the directory dirfd (whose path is dir) that fits in
 * sun_path: through the descriptor where /proc is there, so that no
 * directory of the path can be swapped for a link between our open and
 * the bind or connect (ROOT/run is the root owner's); else by name.
 * Returns 0 or -ENAMETOOLONG. */
static int sock_path(const char *dir, int dirfd, const char *name,
                     struct sockaddr_un *un)
{
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    int n =
        access("/proc/self/fd", X_OK) == 0
            ? snprintf(un->sun_path, sizeof un->sun_path, "/proc/self/fd/%d/%s",
                       dirfd, name)
            : snprintf(un->sun_path, sizeof un->sun_path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof un->sun_path ? 0 : -ENAMETOOLONG;
}

/* Connects to NAME, without waiting.  Returns the socket or -errno. */
static int sock_connect(const char *dir, int dirfd, const char *name)
{
    struct sockaddr_un un;
    int rc = sock_path(dir, dirfd, name, &un);
    if (rc != 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0 &&
        errno != EINPROGRESS && errno != EAGAIN) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* A socket whose server is gone: nothing listens (refused).  Not "its
 * PID is no process": a server in another PID namespace sharing the root
 * would look gone. */
static bool sock_stale(const char *dir, int dirfd, const char *name)
{
    int fd = sock_connect(dir, dirfd, name);
    if (fd >= 0)
        close(fd);
    return fd == -ECONNREFUSED;
}

/* ---- the server's end ------------------------------------------------ */

static int who_handle(ss_request *r)
{
    struct whosock *ws = ss_request_user(r);
    (void)ss_stream_set_timeout(r, WHOSOCK_IO_MS);
    struct ucred cred;
    socklen_t len = sizeof cred;
    json_t *ans;
    if (getsockopt(ss_request_fd(r), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -errno;
    if (cred.uid != 0 && cred.uid != geteuid()) {
        log_msg(LOG_LEVEL_WARNING,
                "who: refused uid %u (pid %d): only uid %u or root may ask",
                (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
        char why[160];
        snprintf(why, sizeof why,
                 "only the server's user (uid %u) or root may ask; you are "
                 "uid %u",
                 (unsigned)geteuid(), (unsigned)cred.uid);
        ans = json_pack("{s:i, s:s}", "pid", (int)ws->owner, "error", why);
    } else {
        ans = who_snapshot(ws->who, ws->owner);
    }
    char *text = ans == NULL ? NULL : json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    if (text == NULL)
        return -ENOMEM;
    int rc = ss_stream_write_all(r, text, strlen(text));
    if (rc == 0)
        rc = ss_stream_write_all(r, "\n", 1);
    free(text);
    return rc;
}

static const ss_handler_class who_class = {
    .name = "ssftpd-who",
    .handle = who_handle,
};

/* In the helper: every descriptor of the server's but keep and keep2 is
 * closed (its listeners, so that a stopping server stops accepting at
 * once; the write end of --isolation process's pipe, whose EOF tells the
 * session children to stop). */
static void close_others(int keep, int keep2)
{
    /* glibc's syslog socket is among them: closed behind its back, its
     * number would be the next socket's, and the next line would close
     * that (the who listener) and reconnect there. */
    closelog();
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        log_syslog_reopen();
        return;
    }
    int fds[4096], n = 0, self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != self && fd != keep && fd != keep2)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    log_syslog_reopen();
}

/* The helper: a child of the server that answers on the socket, one
 * peer at a time, until the server kills it at exit -- or dies (then the
 * kernel kills it).  A process, not a thread: the server stays
 * single-threaded where it forks session children (--isolation process).
 * It keeps no privilege: as root, it becomes the data root's owner. */
static int helper_bind(struct whosock *ws, const char *dir,
                       const struct stat *root, const char **step);

/* Once a second: a server that is gone (its parent-death signal may have
 * been lost to a change of credentials) takes the helper with it. */
static void helper_watch(ss_server *s)
{
    const struct whosock *ws = ss_server_user(s);
    if (getppid() != ws->owner)
        _exit(0);
}

static const ss_server_ops helper_ops = {.service_actions = helper_watch,
                                         .handle_error = log_server_error};

static void helper_main(struct whosock *ws, const char *dir,
                        const struct stat *root, int ready)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != ws->owner)
        _exit(1);
    (void)prctl(PR_SET_NAME, "ssftpd-who"); /* in ps, and not a session */
    /* The server's signals are its own (a terminal's ^C reaches the
     * whole group; the server then stops this one). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    close_others(ws->dirfd, ready);
    const char *step = "bind";
    int rc = helper_bind(ws, dir, root, &step);
    if (rc == 0 && geteuid() == 0 && root->st_uid != 0) {
        struct passwd *pw = getpwuid(root->st_uid);
        step = "becoming the data root's owner";
        /* quietly: the server says so when it drops (privdrop.h) */
        rc = pw == NULL ? -ENOENT
             : initgroups(pw->pw_name, pw->pw_gid) != 0 ||
                     setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0
                 ? -errno
                 : 0;
    }
    if (rc != 0)
        log_msg(LOG_LEVEL_ERROR, "who socket %s: %s: %s", ws->path, step,
                strerror(-rc));
    (void)proto_write_all(ready, &rc, sizeof rc);
    close(ready);
    if (rc == 0) {
        rc = ss_server_serve_forever(ws->server, 1000);
        if (rc != 0)
            log_msg(LOG_LEVEL_ERROR, "the who socket stopped: %s",
                    ss_strerror(rc));
    }
    _exit(1);
}

/* Removes the sockets of servers that are gone. */
static void remove_stale(const char *dir, int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (sock_pid(e->d_name) != 0 && sock_pid(e->d_name) != getpid() &&
            sock_stale(dir, dirfd, e->d_name) &&
            unlinkat(dirfd, e->d_name, 0) == 0)
            log_msg(LOG_LEVEL_NOTICE,
                    "removed %s/%s, left by a server that is gone", dir,
                    e->d_name);
    closedir(d);
}

/* As root: ROOT/run and the socket are the data root's owner's, so that the
 * server still removes it once --user has dropped root, and that user's
 * "ssftpd who" reaches it. */
static int give_to_root_owner(const struct stat *root, int dirfd,
                              const char *name)
{
    const struct stat st = *root;
    if (geteuid() != 0 || st.st_uid == 0)
        return 0;
    if (fchown(dirfd, st.st_uid, st.st_gid) != 0 ||
        fchownat(dirfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    return 0;
}

/* Stops the helper, removes the socket (not in a forked child). */
static void whosock_stop(struct whosock *ws)
{
    if (ws == NULL || ws->owner != getpid())
        return;
    /* A server that dropped root may not kill a helper that kept it (the
     * data root is root's): the kernel does, once this process is gone. */
    if (ws->helper > 0 && kill(ws->helper, SIGKILL) == 0)
        while (waitpid(ws->helper, NULL, 0) < 0 && errno == EINTR)
            ;
    if (ws->dirfd >= 0) {
        (void)unlinkat(ws->dirfd, ws->name, 0);
        close(ws->dirfd);
    }
    free(ws);
}

static struct whosock *at_exit_ws;

static void stop_at_exit(void)
{
    whosock_stop(at_exit_ws);
    at_exit_ws = NULL;
}

int whosock_start(struct who *w, const char *root)
{
    struct whosock *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return -ENOMEM;
    ws->who = w;
    ws->owner = getpid();
    ws->dirfd = -1;
    snprintf(ws->name, sizeof ws->name, "ssftpd.%d.sock", (int)getpid());
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/run", root);
    snprintf(ws->path, sizeof ws->path, "%s/%s", dir, ws->name);
    int rc = 0;
    const char *step = "mkdir";
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = -errno;
    if (rc == 0) {
        step = "open";
        ws->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ws->dirfd < 0)
            rc = -errno;
    }
    if (rc == 0) {
        step = "chmod";
        rc = fchmod(ws->dirfd, 0700) == 0 ? 0 : -errno;
    }
    struct stat st;
    if (rc == 0) {
        step = "stat";
        rc = stat(root, &st) == 0 ? 0 : -errno;
    }
    int ready[2] = {-1, -1};
    if (rc == 0) {
        remove_stale(dir, ws->dirfd);
        (void)unlinkat(ws->dirfd, ws->name, 0); /* our PID's: gone */
        step = "fork";
        rc = pipe2(ready, O_CLOEXEC) == 0 ? 0 : -errno;
    }
    if (rc == 0) {
        fflush(NULL); /* nothing buffered is written twice */
        ws->helper = fork();
        if (ws->helper == 0)
            helper_main(ws, dir, &st, ready[1]);
        rc = ws->helper < 0 ? -errno : 0;
        close(ready[1]);
    }
    if (rc == 0) { /* the helper's word: bound (0), or why not (said) */
        struct pollfd p = {.fd = ready[0], .events = POLLIN};
        int said = -ETIMEDOUT;
        if (proto_poll(&p, 1, 10000) == 1 &&
            proto_read_full(ready[0], &said, sizeof said) != sizeof said)
            said = -EIO;
        close(ready[0]);
        if (said == 0 && atexit(stop_at_exit) != 0)
            said = -ENOMEM;
        if (said != 0) {
            whosock_stop(ws);
            return said;
        }
        at_exit_ws = ws;
        return 0;
    }
    if (ready[0] >= 0)
        close(ready[0]);
    log_msg(LOG_LEVEL_ERROR, "who socket %s: %s: %s", ws->path, step,
            strerror(-rc));
    whosock_stop(ws);
    return rc;
}

/* In the helper: the socket, 0600, the data root owner's. */
static int helper_bind(struct whosock *ws, const char *dir,
                       const struct stat *root, const char **step)
{
    struct sockaddr_un un;
    int rc = sock_path(dir, ws->dirfd, ws->name, &un);
    if (rc == 0) {
        ss_config cfg;
        ss_config_init(&cfg, SS_UNIX_STREAM);
        cfg.path = un.sun_path;
        cfg.request_queue_size = 16;
        cfg.idle_timeout_ms = WHOSOCK_IO_MS;
        rc = ss_server_create(&ws->server, &cfg, &who_class, &helper_ops, ws);
    }
    if (rc == 0) {
        *step = "chmod";
        /* Never through a symlink: ROOT/run is the root owner's, who
         * could put one in the socket's place. */
        rc = fchmodat(ws->dirfd, ws->name, 0600, AT_SYMLINK_NOFOLLOW) == 0
                 ? 0
                 : -errno;
    }
    if (rc == 0) {
        *step = "chown";
        rc = give_to_root_owner(root, ws->dirfd, ws->name);
    }
    return rc;
}

/* ---- the asking end --------------------------------------------------- */

/* One server's answer, read to its end within WHOSOCK_IO_MS. */
static json_t *ask_one(const char *dir, int dirfd, const char *name, char *err,
                       size_t errlen)
{
    int fd = sock_connect(dir, dirfd, name);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(-fd));
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = proto_mono_ms() + WHOSOCK_IO_MS;
    int rc = buf == NULL ? -ENOMEM : 0;
    while (rc == 0) {
        int left = (int)(deadline - proto_mono_ms());
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = left <= 0 ? 0 : proto_poll(&pfd, 1, left);
        if (n <= 0) {
            rc = n < 0 ? n : -ETIMEDOUT;
            break;
        }
        if (len + 1 == cap) {
            char *more =
                cap >= WHOSOCK_ANSWER_MAX ? NULL : realloc(buf, cap * 2);
            if (more == NULL) {
                rc = -EFBIG;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - 1 - len);
        if (k == 0)
            break;
        if (k < 0 && errno != EINTR && errno != EAGAIN)
            rc = -errno;
        if (k > 0)
            len += (size_t)k;
    }
    close(fd);
    json_t *j = NULL;
    if (rc == 0) {
        json_error_t je;
        j = json_loadb(buf, len, 0, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            j = NULL;
            rc = -EBADMSG;
        }
    }
    free(buf);
    if (j == NULL)
        snprintf(err, errlen, "%s",
                 rc == -ETIMEDOUT ? "no answer within 2 s"
                 : rc == -EBADMSG ? "an answer that is not JSON"
                                  : strerror(-rc));
    return j;
}

int whosock_ask(const char *root, json_t **servers, char *err, size_t errlen)
{
    *servers = NULL;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/run", root);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dirfd < 0 ? -1 : dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        if (fd >= 0)
            close(fd);
        if (dirfd >= 0)
            close(dirfd);
        return -e;
    }
    json_t *list = json_array();
    struct dirent *e;
    while (list != NULL && (e = readdir(d)) != NULL) {
        pid_t pid = sock_pid(e->d_name);
        if (pid == 0)
            continue;
        if (sock_stale(dir, dirfd, e->d_name)) {
            (void)unlinkat(dirfd, e->d_name, 0); /* if it may */
            continue;
        }
        char why[256];
        json_t *j = ask_one(dir, dirfd, e->d_name, why, sizeof why);
        if (j == NULL)
            j = json_pack("{s:i, s:s}", "pid", (int)pid, "error", why);
        if (j != NULL)
            json_array_append_new(list, j);
    }
    closedir(d);
    close(dirfd);
    if (list == NULL) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return -ENOMEM;
    }
    *servers = list;
    return 0;
}
