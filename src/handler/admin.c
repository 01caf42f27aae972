/* admin.c -- the "ssftpd user add|passwd|del|quota|rescan|list" commands. */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "jail.h"
#include "proto.h"
#include "quota.h"
#include "size.h"
#include "userdb.h"

#define DEFAULT_ROOT SSFTPD_DEFAULT_ROOT
#define PASSWORD_MAX 1024 /* bytes, with the NUL */

struct admin {
    const char *cmd; /* "add", ... for messages */
    const char *root;
    bool root_given;       /* --root: it must exist (but "add" may make it) */
    const char *quota;     /* --quota, add only */
    const char *max_files; /* --max-files, add and quota */
    proto_auth_params
        kdf; /* costs for new keys; the salt is made per password */
    struct userdb *db;
};

static int usage(void)
{
    fputs("usage: ssftpd user add NAME [--quota SIZE] [--max-files N] "
          "[--root DIR]\n"
          "       ssftpd user passwd NAME [--root DIR]\n"
          "       ssftpd user del NAME [--root DIR]\n"
          "       ssftpd user quota NAME [SIZE] [--max-files N] [--root DIR]\n"
          "       ssftpd user rescan NAME [--root DIR]\n"
          "       ssftpd user list [--root DIR]\n"
          "SIZE is bytes, or a number with K, M, G or T (powers of 1024);\n"
          "a quota of 0 means the server default.  --max-files limits the\n"
          "files, directories and partial uploads a user has; 0 means the\n"
          "server default.  rescan counts a home again after changes made\n"
          "outside the server.  DIR defaults to " DEFAULT_ROOT ", made if\n"
          "missing; a DIR given must exist (ssftpd init --root DIR makes\n"
          "one), except for add, which makes it as init does.  Run as root\n"
          "on a DIR owned by another user, a command runs as that user, so\n"
          "the server can read what it writes; as any other user than DIR's\n"
          "owner it is refused.\n",
          stderr);
    return 2;
}

/* "ssftpd user add: what: reason" on stderr; returns exit status 1. */
static int fail(const struct admin *a, const char *what, int err)
{
    fprintf(stderr, "ssftpd user %s: %s: %s\n", a->cmd, what, strerror(-err));
    return 1;
}

/* fail() for an error about the user name: userdb's -ENOENT and -EEXIST
 * mean the user, not a file. */
static int user_fail(const struct admin *a, const char *name, int err)
{
    if (err != -ENOENT && err != -EEXIST)
        return fail(a, name, err);
    fprintf(stderr, "ssftpd user %s: %s: %s\n", a->cmd, name,
            err == -ENOENT ? "no such user" : "user already exists");
    return 1;
}

/* ---- the password ------------------------------------------------------- */

/* The new password into pw.  On error a message has been printed. */
static int read_password(const struct admin *a, char pw[PASSWORD_MAX])
{
    int rc;
    if (!isatty(STDIN_FILENO)) {
        rc = proto_read_secret_line(STDIN_FILENO, pw, PASSWORD_MAX);
    } else {
        char again[PASSWORD_MAX];
        rc = proto_prompt_secret(STDIN_FILENO, STDERR_FILENO,
                                 "New password: ", pw, PASSWORD_MAX);
        if (rc > 0)
            rc = proto_prompt_secret(STDIN_FILENO, STDERR_FILENO,
                                     "Retype password: ", again, PASSWORD_MAX);
        if (rc > 0 && strcmp(pw, again) != 0) {
            sodium_memzero(again, sizeof again);
            fprintf(stderr, "ssftpd user %s: passwords do not match\n", a->cmd);
            return -EINVAL;
        }
        sodium_memzero(again, sizeof again);
    }
    if (rc == 0 || rc == -ENODATA) {
        fprintf(stderr, "ssftpd user %s: empty password\n", a->cmd);
        return -EINVAL;
    }
    if (rc < 0) {
        fail(a, rc == -EMSGSIZE ? "password too long" : "reading password", rc);
        return rc;
    }
    return 0;
}

/* Reads a password and derives fresh credentials from it. */
static int new_cred(const struct admin *a, struct userdb_cred *c)
{
    char pw[PASSWORD_MAX];
    int rc = read_password(a, pw);
    if (rc == 0) {
        uint8_t client_key[PROTO_AUTH_KEY_BYTES];
        c->params = a->kdf;
        randombytes_buf(c->params.salt, sizeof c->params.salt);
        rc = proto_auth_derive(pw, &c->params, client_key, c->server_key);
        if (rc == 0)
            proto_auth_stored_key(client_key, c->stored_key);
        else
            fail(a, "deriving keys", rc);
        sodium_memzero(client_key, sizeof client_key);
    }
    sodium_memzero(pw, sizeof pw);
    return rc;
}

/* ---- the commands ------------------------------------------------------- */

static int home_jail(struct admin *a, const char *name, struct jail **j)
{
    int fd;
    int rc = userdb_home_open(a->db, name, &fd);
    return rc == 0 ? jail_open(fd, j) : rc;
}

/* The counts the servers enforce: the user's ledger (counted now if new). */
static int home_usage(struct admin *a, struct quota_registry *reg,
                      const char *name, struct quota_usage *used)
{
    struct jail *j;
    struct quota *q;
    int rc = home_jail(a, name, &j);
    if (rc != 0)
        return rc;
    rc = quota_acquire(reg, name, j, &q, NULL);
    if (rc == 0) {
        rc = quota_report(q, used);
        quota_drop(q);
    }
    jail_close(j);
    return rc;
}

/* Limits and sweeps play no part in what the admin commands count. */
static const struct quota_config admin_counting = {
    .default_bytes = QUOTA_UNLIMITED,
    .default_entries = QUOTA_UNLIMITED,
    .partial_max_age_s = -1};

/* Counts name's home now (or marks it to be counted, ev->deferred, when a
 * server has the account open), with the counts after in *u (may be NULL). */
static int recount(struct admin *a, const char *name, struct quota_opened *ev,
                   struct quota_usage *u)
{
    struct quota_opened unused;
    if (ev == NULL)
        ev = &unused;
    struct jail *j;
    struct quota_registry *reg = NULL;
    int rc = home_jail(a, name, &j);
    if (rc != 0)
        return rc;
    rc = quota_registry_create(a->db, &admin_counting, &reg);
    if (rc == 0)
        rc = quota_rescan(reg, name, j, ev);
    if (rc == 0 && ev->counted && u != NULL)
        rc = home_usage(a, reg, name, u);
    quota_registry_destroy(reg);
    jail_close(j);
    return rc;
}

/* --max-files into *n (untouched without it); -EINVAL after a message. */
static int max_files_option(const struct admin *a, uint64_t *n)
{
    if (a->max_files != NULL && proto_size_parse(a->max_files, n) != 0) {
        fprintf(stderr, "ssftpd user %s: bad count '%s'\n", a->cmd,
                a->max_files);
        return -EINVAL;
    }
    return 0;
}

static int cmd_add(struct admin *a, char **args)
{
    struct userdb_record r = {.quota = 0};
    if (a->quota != NULL && proto_size_parse(a->quota, &r.quota) != 0) {
        fprintf(stderr, "ssftpd user add: bad size '%s'\n", a->quota);
        return usage();
    }
    if (max_files_option(a, &r.max_files) != 0)
        return usage();
    snprintf(r.name, sizeof r.name, "%s", args[0]);
    /* Ask for no password for a name that is taken. */
    struct userdb_record old;
    int rc = userdb_lookup(a->db, r.name, &old);
    if (rc == 0)
        rc = -EEXIST;
    if (rc != -ENOENT)
        return user_fail(a, r.name, rc);
    if (new_cred(a, &r.cred) != 0)
        return 1;
    rc = userdb_add(a->db, &r);
    if (rc != 0)
        return user_fail(a, r.name, rc);
    /* A name added again finds its old home, and its old ledger: count the
     * home as it is now, not as it was when the user was deleted. */
    rc = recount(a, r.name, NULL, NULL);
    if (rc != 0)
        return fail(a, r.name, rc);
    char files[32] = "default";
    if (r.max_files != 0)
        snprintf(files, sizeof files, "%" PRIu64, r.max_files);
    fprintf(stderr, "user %s added, quota %s, max files %s, home %s/homes/%s\n",
            r.name, r.quota ? proto_size_format(r.quota).s : "default", files,
            a->root, r.name);
    return 0;
}

static int cmd_passwd(struct admin *a, char **args)
{
    struct userdb_record r;
    int rc = userdb_lookup(a->db, args[0], &r);
    if (rc != 0)
        return user_fail(a, args[0], rc);
    if (new_cred(a, &r.cred) != 0)
        return 1;
    rc = userdb_set_cred(a->db, args[0], &r.cred);
    if (rc != 0)
        return user_fail(a, args[0], rc);
    fprintf(stderr, "password of %s changed\n", args[0]);
    return 0;
}

static int cmd_del(struct admin *a, char **args)
{
    int rc = userdb_remove(a->db, args[0]);
    if (rc != 0)
        return user_fail(a, args[0], rc);
    fprintf(stderr,
            "user %s removed; their files are kept in %s/homes/%s "
            "(delete them by hand if unwanted)\n",
            args[0], a->root, args[0]);
    return 0;
}

/* quota NAME [SIZE] [--max-files N]: at least one of the two. */
static int cmd_quota(struct admin *a, char **args)
{
    uint64_t q, files = 0;
    if (args[1] == NULL && a->max_files == NULL)
        return usage();
    if (args[1] != NULL && proto_size_parse(args[1], &q) != 0) {
        fprintf(stderr, "ssftpd user quota: bad size '%s'\n", args[1]);
        return usage();
    }
    if (max_files_option(a, &files) != 0)
        return usage();
    int rc = args[1] != NULL ? userdb_set_quota(a->db, args[0], q) : 0;
    if (rc == 0 && a->max_files != NULL)
        rc = userdb_set_max_files(a->db, args[0], files);
    if (rc != 0)
        return user_fail(a, args[0], rc);
    if (args[1] != NULL)
        fprintf(stderr, "quota of %s set to %s\n", args[0],
                q ? proto_size_format(q).s : "the server default");
    if (a->max_files != NULL && files != 0)
        fprintf(stderr, "max files of %s set to %" PRIu64 "\n", args[0], files);
    else if (a->max_files != NULL)
        fprintf(stderr, "max files of %s set to the server default\n", args[0]);
    return 0;
}

static int cmd_rescan(struct admin *a, char **args)
{
    struct userdb_record r;
    int rc = userdb_lookup(a->db, args[0], &r);
    if (rc != 0)
        return user_fail(a, args[0], rc);
    struct quota_opened ev;
    struct quota_usage u;
    rc = recount(a, args[0], &ev, &u);
    if (rc != 0)
        return fail(a, args[0], rc);
    if (ev.counted) {
        fprintf(stderr, "%s: %" PRIu64 " entries, %s (%" PRIu64 " bytes)\n",
                args[0], u.entries, proto_size_format(u.used).s, u.used);
        if (ev.count_err != 0)
            fprintf(stderr, "%s: part of the home could not be counted: %s\n",
                    args[0], strerror(-ev.count_err));
    } else {
        fprintf(stderr,
                "%s is logged in now; the home will be counted when no "
                "server process has the account open\n",
                args[0]);
    }
    return 0;
}

static int cmd_list(struct admin *a, char **args)
{
    (void)args;
    struct userdb_record *v;
    size_t n;
    int rc = userdb_list(a->db, &v, &n);
    if (rc != 0)
        return fail(a, "users.json", rc);
    struct quota_registry *reg;
    rc = quota_registry_create(a->db, &admin_counting, &reg);
    if (rc != 0) {
        free(v);
        return fail(a, "quota", rc);
    }
    int status = 0;
    printf("%-32s %-10s %-10s %-10s %s\n", "NAME", "QUOTA", "MAX-FILES",
           "FILES", "USED");
    for (size_t i = 0; i < n; i++) {
        struct quota_usage used;
        proto_size_str qs = proto_size_format(v[i].quota);
        const char *quota = v[i].quota ? qs.s : "default";
        char maxf[24] = "default", files[24];
        if (v[i].max_files != 0)
            snprintf(maxf, sizeof maxf, "%" PRIu64, v[i].max_files);
        rc = home_usage(a, reg, v[i].name, &used);
        if (rc == 0) {
            snprintf(files, sizeof files, "%" PRIu64, used.entries);
            printf("%-32s %-10s %-10s %-10s %s (%" PRIu64 " bytes)\n",
                   v[i].name, quota, maxf, files,
                   proto_size_format(used.used).s, used.used);
        } else {
            printf("%-32s %-10s %-10s ?\n", v[i].name, quota, maxf);
            status = fail(a, v[i].name, rc);
        }
    }
    quota_registry_destroy(reg);
    free(v);
    if (fflush(stdout) != 0)
        status = fail(a, "stdout", -errno);
    return status;
}

/* ---- the data root and who may write it --------------------------------- */

/* Becomes uid and gid for good, with gid as the only group. */
static int become(uid_t uid, gid_t gid)
{
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return -errno;
    /* There is no way back. */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return -EPERM;
    return 0;
}

/* Before the root is opened: a root that must exist does; run as root on a
 * root owned by someone else, this process becomes that owner, so every
 * file it makes or rewrites stays readable by the server; run as anyone
 * else than the owner, it refuses.  *open_as is the path to open the root
 * by afterwards: root, or "." once this process has become the owner.  The
 * owner may not be able to reach the root by its name: systemd's
 * DynamicUser= root /var/lib/ssftpd is a link into /var/lib/private, which
 * is root's alone (0700), so the root is entered while still root.
 * Returns 0 or -errno (said). */
static int root_access(const char *cmd, const char *root, bool must_exist,
                       const char **open_as)
{
    *open_as = root;
    char who[32];
    snprintf(who, sizeof who, "%s%s", strcmp(cmd, "init") == 0 ? "" : "user ",
             cmd);
    struct stat st;
    if (stat(root, &st) != 0) {
        int e = errno;
        if (e == ENOENT && !must_exist)
            return 0; /* made by userdb_open(), ours */
        fprintf(stderr, "ssftpd %s: data root %s: %s%s%s\n", who, root,
                strerror(e),
                e == ENOENT ? "; make it with: ssftpd init --root " : "",
                e == ENOENT ? root : "");
        return -e;
    }
    uid_t me = geteuid();
    if (st.st_uid == me)
        return 0;
    if (me != 0) {
        fprintf(stderr,
                "ssftpd %s: data root %s belongs to uid %u, not to you (uid "
                "%u): run this as its owner or as root, or the server may "
                "not read what it writes\n",
                who, root, (unsigned)st.st_uid, (unsigned)me);
        return -EPERM;
    }
    if (chdir(root) != 0) {
        int e = errno;
        fprintf(stderr, "ssftpd %s: data root %s: %s\n", who, root,
                strerror(e));
        return -e;
    }
    *open_as = ".";
    int rc = become(st.st_uid, st.st_gid);
    if (rc != 0)
        fprintf(stderr,
                "ssftpd %s: cannot become uid %u, the owner of %s: "
                "%s\n",
                who, (unsigned)st.st_uid, root, strerror(-rc));
    return rc;
}

/* ssftpd init [--root DIR]: makes the data root (0700), homes/, the
 * secret and an empty users.json (0600); done again, changes nothing. */
int admin_init_main(int argc, char **argv)
{
    const char *root = DEFAULT_ROOT;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            root = argv[++i];
        } else {
            fputs("usage: ssftpd init [--root DIR]\n"
                  "makes the data root DIR (default " DEFAULT_ROOT "), mode "
                  "0700,\nwith homes/ and an empty users.json; changes "
                  "nothing if it is there\n",
                  strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0
                      ? stdout
                      : stderr);
            return strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0
                       ? 0
                       : 2;
        }
    }
    struct userdb *db;
    const char *open_as;
    int rc = root_access("init", root, false, &open_as);
    if (rc != 0)
        return 1;
    rc = proto_init();
    if (rc == 0)
        rc = userdb_open(open_as, &db);
    if (rc == 0) {
        rc = userdb_init_file(db);
        userdb_close(db);
    }
    if (rc != 0) {
        fprintf(stderr, "ssftpd init: %s: %s\n", root, strerror(-rc));
        return 1;
    }
    fprintf(stderr,
            "data root %s ready; add users with: ssftpd user add NAME "
            "--root %s\n",
            root, root);
    return 0;
}

/* ---- argument parsing --------------------------------------------------- */

static const struct command {
    const char *name;
    int nargs;    /* positional arguments after the command name */
    int optional; /* of which the last this many may be left out */
    int (*run)(struct admin *a, char **args);
} commands[] = {
    {"add", 1, 0, cmd_add},       {"passwd", 1, 0, cmd_passwd},
    {"del", 1, 0, cmd_del},       {"quota", 2, 1, cmd_quota},
    {"rescan", 1, 0, cmd_rescan}, {"list", 0, 0, cmd_list},
};

/* An option's value: argv[*i + 1], consumed.  NULL if missing. */
static const char *opt_value(int argc, char **argv, int *i)
{
    return *i + 1 < argc ? argv[++*i] : NULL;
}

/* A --kdf-* value: strict decimal (proto_size_parse, so "8M" works too). */
static int kdf_option(const char *s, uint64_t *out)
{
    if (s == NULL || proto_size_parse(s, out) != 0) {
        fprintf(stderr, "ssftpd user: bad KDF parameter '%s'\n", s ? s : "");
        return -EINVAL;
    }
    return 0;
}

int admin_main(int argc, char **argv)
{
    struct admin a = {
        .root = DEFAULT_ROOT,
        .kdf = {.opslimit = PROTO_AUTH_DEFAULT_OPSLIMIT,
                .memlimit = PROTO_AUTH_DEFAULT_MEMLIMIT},
    };
    char *pos[4] = {NULL};
    int npos = 0;
    if (argc < 2 || strcmp(argv[1], "user") != 0)
        return usage();
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--root") == 0) {
            if ((a.root = opt_value(argc, argv, &i)) == NULL)
                return usage();
            a.root_given = true;
        } else if (strcmp(s, "--quota") == 0) {
            if ((a.quota = opt_value(argc, argv, &i)) == NULL)
                return usage();
        } else if (strcmp(s, "--max-files") == 0) {
            if ((a.max_files = opt_value(argc, argv, &i)) == NULL)
                return usage();
        } else if (strcmp(s, "--kdf-ops") == 0) {
            if (kdf_option(opt_value(argc, argv, &i), &a.kdf.opslimit) != 0)
                return 2;
        } else if (strcmp(s, "--kdf-mem") == 0) {
            if (kdf_option(opt_value(argc, argv, &i), &a.kdf.memlimit) != 0)
                return 2;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            usage();
            return 0;
        } else if (s[0] == '-') {
            fprintf(stderr, "ssftpd user: unknown option '%s'\n", s);
            return usage();
        } else if (npos == (int)(sizeof pos / sizeof pos[0])) {
            return usage();
        } else {
            pos[npos++] = argv[i];
        }
    }
    /* Keys made with costs a client refuses could never log in. */
    if (proto_auth_params_check(&a.kdf) != 0) {
        fprintf(stderr,
                "ssftpd user: KDF costs outside %llu..%llu passes, "
                "%llu..%llu bytes\n",
                PROTO_AUTH_MIN_OPSLIMIT, PROTO_AUTH_MAX_OPSLIMIT,
                PROTO_AUTH_MIN_MEMLIMIT, PROTO_AUTH_MAX_MEMLIMIT);
        return 2;
    }
    const struct command *c = NULL;
    for (size_t k = 0; npos > 0 && k < sizeof commands / sizeof *commands; k++)
        if (strcmp(pos[0], commands[k].name) == 0)
            c = &commands[k];
    if (c == NULL || npos - 1 > c->nargs || npos - 1 < c->nargs - c->optional ||
        (a.quota != NULL && c->run != cmd_add) ||
        (a.max_files != NULL && c->run != cmd_add && c->run != cmd_quota))
        return usage();
    a.cmd = c->name;
    if (c->nargs > 0 && !userdb_name_valid(pos[1])) {
        fprintf(stderr,
                "ssftpd user %s: invalid user name '%s' (1 to %d of A-Z a-z "
                "0-9 . _ -, not starting with '.')\n",
                a.cmd, pos[1], USERDB_NAME_MAX);
        return 2;
    }
    const char *open_as;
    int rc =
        root_access(a.cmd, a.root, a.root_given && c->run != cmd_add, &open_as);
    if (rc != 0)
        return 1;
    rc = proto_init();
    if (rc == 0)
        rc = userdb_open(open_as, &a.db);
    if (rc == -EPERM)
        fprintf(stderr,
                "ssftpd user %s: %s/secret may be read by others; "
                "chmod 600 it\n",
                a.cmd, a.root);
    else if (rc != 0)
        fail(&a, a.root, rc);
    if (rc != 0)
        return 1;
    int status = c->run(&a, pos + 1);
    userdb_close(a.db);
    return status;
}
