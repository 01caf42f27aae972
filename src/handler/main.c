/* main.c -- ssftpd: the ssftp file server, and "ssftpd user ..." admin. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "backoff.h"
#include "config.h"
#include "ftp.h"
#include "isolation.h"
#include "jail.h"
#include "log.h"
#include "log_server.h"
#include "privdrop.h"
#include "proto.h"
#include "quota.h"
#include "sdlisten.h"
#include "sdnotify.h"
#include "reload.h"
#include "session.h"
#include "size.h"
#include "tlskeys.h"
#include "socketserver.h"
#include "userdb.h"
#include "xferlog.h"

#define DEFAULT_ROOT SSFTPD_DEFAULT_ROOT
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 2121
#define DEFAULT_MAX_CLIENTS 1024
#define DEFAULT_MAX_PER_IP 256
/* SIGTERM: transfers in flight get this long to finish; then their sockets
 * are shut down (a cut put keeps its partial for a resume). */
#define DRAIN_MS 10000
/* A week: long enough for any interrupted upload to be resumed. */
#define DEFAULT_PARTIAL_MAX_AGE_S (7 * 86400)

struct options {
    const char *root;
    bool root_given;          /* by --root or the config: it must exist */
    const char *config;       /* --config FILE */
    const char *run_as;       /* --user NAME */
    const char *log;          /* --log syslog|stderr|FILE; NULL: stderr */
    const char *xferlog;      /* --xferlog FILE (xferlog.h) */
    enum log_level log_level; /* --log-level (log.h) */
    bool check_only;          /* --check: parse, say so, exit */
    char host[256];
    unsigned port;
    unsigned workers; /* 0: max_clients + a margin */
    unsigned max_clients;
    unsigned max_per_ip;
    unsigned idle_timeout_s;
    unsigned login_timeout_s;
    uint64_t default_quota;
    uint64_t default_max_files;
    int64_t partial_max_age_s;
    bool isolate; /* --isolation process */
    const char *tls_cert, *tls_key;
    /* FTP and FTPS beside the native protocol (ftp.h) */
    bool ftp;
    char ftp_host[256];
    unsigned ftp_port;
    unsigned pasv_lo, pasv_hi;
    uint32_t pasv_addr; /* --ftp-passive-address, network order; 0: none */
    bool ftp_allow_plaintext, ftp_active, ftp_no_reuse, ftp_no_fsync;
    unsigned ftp_data_timeout_s;
    bool proxy_protocol;    /* --proxy-protocol */
    const char *proxy_from; /* --proxy-from CIDR[,CIDR...] */
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ssftpd [--config FILE] [--root DIR] [--listen HOST:PORT]\n"
        "              [--workers N]\n"
        "              [--max-clients N] [--max-per-ip N]\n"
        "              [--idle-timeout SECONDS] [--login-timeout SECONDS]\n"
        "              [--default-quota SIZE] [--default-max-files N]\n"
        "              [--partial-max-age AGE] [--isolation thread|process]\n"
        "              [--tls-cert FILE --tls-key FILE]\n"
        "              [--ftp HOST:PORT [--ftp-passive-ports LO-HI]\n"
        "               [--ftp-passive-address IPV4]\n"
        "               [--ftp-allow-plaintext] [--ftp-active]\n"
        "               [--ftp-no-tls-reuse] [--ftp-data-timeout S]\n"
        "               [--ftp-no-fsync]] [--user NAME]\n"
        "              [--log syslog|stderr|FILE] [--log-level LEVEL]\n"
        "              [--xferlog FILE]\n"
        "              [--proxy-protocol --proxy-from CIDR[,CIDR...]]\n"
        "       ssftpd user add|passwd|del|quota|list ... (ssftpd user "
        "--help)\n"
        "       ssftpd fingerprint [--root DIR] [--tls-cert FILE]\n"
        "       ssftpd init [--root DIR]   make a data root (0700, homes/,\n"
        "                                  users.json 0600); idempotent\n"
        "       ssftpd who [--root DIR] [--config FILE] [--json]\n"
        "                                  the sessions online (user, from,\n"
        "                                  since, idle, transfer) of every\n"
        "                                  server on the data root\n"
        "       ssftpd --version | --help\n"
        "       ssftpd --check [OPTIONS]   check the options and config, "
        "exit\n"
        "\n"
        "  --config FILE         \"key = value\" lines, '#' comments; a key\n"
        "                        is a long option without its dashes (a flag\n"
        "                        takes yes or no); the command line wins;\n"
        "                        default %s if it exists\n"
        "  --root DIR            data root (users.json, homes/); default %s,\n"
        "                        made if missing; a DIR given must exist\n"
        "  --listen HOST:PORT    default %s:%d; [::1]:PORT for IPv6; port 0\n"
        "                        picks a free port (printed on stdout)\n"
        "  --workers N           pool threads, one per session; default\n"
        "                        max-clients + 16 (the extra ones say "
        "\"busy\")\n"
        "  --max-clients N       sessions at once; default %d\n"
        "  --max-per-ip N        connections from one address (0: no\n"
        "                        limit); default %d\n"
        "  --idle-timeout S      close a session idle this long; default %d\n"
        "  --login-timeout S     close a connection not logged in this long\n"
        "                        after it connected; default %d\n"
        "  --default-quota SIZE  quota of users without their own (e.g. 10G);\n"
        "                        default none\n"
        "  --default-max-files N files, directories and partial uploads of\n"
        "                        users without their own limit; default none\n"
        "  --partial-max-age AGE partial uploads untouched this long (e.g.\n"
        "                        7d, 12h, 30m; at least 60s; off: never) are\n"
        "                        removed when their user's account is opened\n"
        "                        and a sweep is due (every AGE, at most a\n"
        "                        day); default 7d\n"

        "  --tls-cert FILE       the certificate (PEM, chain first) and its\n"
        "  --tls-key FILE        key; default: ROOT/tls/cert.pem and key.pem,\n"
        "                        a self-signed pair made at the first start\n"
        "  --isolation MODE      thread (default): sessions are pool threads\n"
        "                        of one process; process: each session is a\n"
        "                        forked child, so a crash costs one session\n"
        "                        (--workers is then unused)\n"
        "  --ftp HOST:PORT       also serve FTP and FTPS (AUTH TLS) there,\n"
        "                        to the same users (port 0: a free one,\n"
        "                        printed as \"ftp listening on\"); FTP\n"
        "                        sessions are threads in every --isolation\n"
        "  --ftp-passive-ports LO-HI  passive data ports (1024-65535);\n"
        "                        default: any free port\n"
        "  --ftp-passive-address IPV4  the address PASV replies name, for\n"
        "                        clients behind NAT or a load balancer\n"
        "                        (default: the one the client reached)\n"
        "  --ftp-allow-plaintext take FTP passwords without TLS from any\n"
        "                        address (default: only over loopback)\n"
        "  --ftp-active          allow PORT/EPRT (to the client's own\n"
        "                        address, port 1024 or above only)\n"
        "  --ftp-no-tls-reuse    accept PROT P data connections that do not\n"
        "                        resume the control connection's TLS\n"
        "                        session (clients that cannot, such as\n"
        "                        Python's ftplib as it is)\n"
        "  --ftp-data-timeout S  a passive port waits this long for its\n"
        "                        connection, a transfer for its next byte;\n"
        "                        default %d\n"
        "  --ftp-no-fsync        answer 226 once an FTP upload is published "
        "in\n"
        "                        the page cache, as vsftpd does, not once it\n"
        "                        is on disk: faster; readers still never see\n"
        "                        a part, but a crash may lose or shorten the\n"
        "                        last uploads\n"
        "  --user NAME           started as root: become NAME (its groups,\n"
        "                        for good) once the sockets are bound and\n"
        "                        the keys loaded; the data root must be\n"
        "                        NAME's (ssftpd user ... run as root then\n"
        "                        writes as NAME)\n"
        "  --log DEST            where the log goes: stderr (default; under\n"
        "                        systemd's journal with <N> level prefixes\n"
        "                        and no timestamps), syslog (facility\n"
        "                        daemon), or a FILE appended to (made 0640;\n"
        "                        reopened at SIGHUP, for logrotate)\n"
        "  --log-level LEVEL     error, warning, notice, info (default) or\n"
        "                        debug: lines less severe are left out\n"
        "  --xferlog FILE        one line per finished or cut transfer (both\n"
        "                        protocols) in wu-ftpd's and vsftpd's\n"
        "                        xferlog(5) format, appended to FILE (made\n"
        "                        0640; reopened at SIGHUP)\n"
        "  --proxy-protocol      behind a load balancer: connections from\n"
        "                        --proxy-from must start with a PROXY v1 or\n"
        "                        v2 header (HAProxy send-proxy[-v2]), whose\n"
        "                        client address the limits, backoff and log\n"
        "                        then use; native and FTP listeners\n"
        "  --proxy-from CIDR[,CIDR...]  the trusted proxies' addresses (e.g.\n"
        "                        127.0.0.1,10.0.0.0/8); others' connections\n"
        "                        are taken as they are, never parsed\n"
        "A flag a config file turns on (ftp-active = yes) is turned off\n"
        "on the command line by --no-FLAG (--no-ftp-active).\n"
        "\n"
        "SIGHUP reloads: the config file again (the command line still\n"
        "wins), the TLS pair they name, for new connections (sessions keep\n"
        "theirs; a pair that does not load keeps the old one), --log and\n"
        "--log-level (a --log or --xferlog file is reopened).  Other\n"
        "options need a restart; a reload names each that changed.\n"
        "SIGINT and SIGTERM stop the server, letting transfers finish for\n"
        "up to 10 s.\n",
        SSFTPD_DEFAULT_CONFIG, DEFAULT_ROOT, DEFAULT_HOST, DEFAULT_PORT,
        DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PER_IP, PROTO_IDLE_TIMEOUT_S,
        PROTO_LOGIN_TIMEOUT_S, FTP_DATA_TIMEOUT_S);
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* --listen: proto_hostport_split(), and the port is not optional. */
static int parse_listen(const char *s, struct options *o)
{
    const char *port;
    int rc = proto_hostport_split(s, o->host, sizeof o->host, &port);
    return rc != 0        ? rc
           : port == NULL ? -EINVAL
                          : parse_uint(port, 65535, &o->port);
}

static int parse_isolation(const char *s, bool *isolate)
{
    if (s != NULL && strcmp(s, "thread") == 0)
        *isolate = false;
    else if (s != NULL && strcmp(s, "process") == 0)
        *isolate = true;
    else
        return -EINVAL;
    return 0;
}

/* --ftp HOST:PORT */
static int parse_ftp(const char *s, struct options *o)
{
    const char *port;
    int rc = proto_hostport_split(s, o->ftp_host, sizeof o->ftp_host, &port);
    o->ftp = true;
    return rc != 0        ? rc
           : port == NULL ? -EINVAL
                          : parse_uint(port, 65535, &o->ftp_port);
}

/* The options that take no value. */
/* A flag option a (--ftp-active...) set to value in *o; false if a is none.
 * On the command line --no-FLAG turns off what a config file turned on. */
static bool parse_flag(const char *a, struct options *o, bool value)
{
    bool *flag = strcmp(a, "--ftp-allow-plaintext") == 0
                     ? &o->ftp_allow_plaintext
                 : strcmp(a, "--ftp-active") == 0       ? &o->ftp_active
                 : strcmp(a, "--ftp-no-tls-reuse") == 0 ? &o->ftp_no_reuse
                 : strcmp(a, "--ftp-no-fsync") == 0     ? &o->ftp_no_fsync
                 : strcmp(a, "--proxy-protocol") == 0   ? &o->proxy_protocol
                                                        : NULL;
    if (flag != NULL)
        *flag = value;
    return flag != NULL;
}

/* "FILE:LINE: " while a config file's pair is parsed, for messages. */
static char opt_where[300];

/* One option and its value (NULL if none), from the command line or a
 * config file (config.h): 0, -ENOENT for an unknown option (said), or
 * -EINVAL for a bad or missing value (said). */
static int parse_option(const char *a, const char *v, struct options *o)
{
    int rc;
    if (strcmp(a, "--root") == 0) {
        rc = (o->root = v) == NULL ? -EINVAL : 0;
        o->root_given = true;
    } else if (strcmp(a, "--listen") == 0)
        rc = v == NULL ? -EINVAL : parse_listen(v, o);
    else if (strcmp(a, "--workers") == 0)
        rc = parse_uint(v, 100000, &o->workers);
    else if (strcmp(a, "--max-clients") == 0)
        rc = parse_uint(v, 100000, &o->max_clients);
    else if (strcmp(a, "--max-per-ip") == 0)
        rc = parse_uint(v, 100000, &o->max_per_ip);
    else if (strcmp(a, "--idle-timeout") == 0)
        rc = parse_uint(v, 86400, &o->idle_timeout_s);
    else if (strcmp(a, "--login-timeout") == 0)
        rc = parse_uint(v, 86400, &o->login_timeout_s);
    else if (strcmp(a, "--isolation") == 0)
        rc = parse_isolation(v, &o->isolate);
    else if (strcmp(a, "--tls-cert") == 0)
        rc = (o->tls_cert = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--tls-key") == 0)
        rc = (o->tls_key = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--default-quota") == 0)
        rc = v == NULL ? -EINVAL : proto_size_parse(v, &o->default_quota);
    else if (strcmp(a, "--default-max-files") == 0)
        rc = v == NULL ? -EINVAL : proto_size_parse(v, &o->default_max_files);
    else if (strcmp(a, "--ftp") == 0)
        rc = v == NULL ? -EINVAL : parse_ftp(v, o);
    else if (strcmp(a, "--ftp-data-timeout") == 0)
        rc = parse_uint(v, 86400, &o->ftp_data_timeout_s);
    else if (strcmp(a, "--ftp-passive-address") == 0)
        rc = v == NULL || inet_pton(AF_INET, v, &o->pasv_addr) != 1 ||
                     o->pasv_addr == 0
                 ? -EINVAL
                 : 0;
    else if (strcmp(a, "--ftp-passive-ports") == 0)
        rc = ftp_parse_ports(v, &o->pasv_lo, &o->pasv_hi);
    else if (strcmp(a, "--partial-max-age") == 0)
        rc = proto_duration_parse(v, &o->partial_max_age_s);
    else if (strcmp(a, "--user") == 0)
        rc = (o->run_as = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--log") == 0)
        rc = (o->log = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--log-level") == 0)
        rc = log_level_parse(v, &o->log_level);
    else if (strcmp(a, "--xferlog") == 0)
        rc = (o->xferlog = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--config") == 0)
        rc = (o->config = v) == NULL ? -EINVAL : 0;
    else if (strcmp(a, "--proxy-from") == 0)
        rc = (o->proxy_from = v) == NULL ? -EINVAL : 0;
    else {
        log_msg(LOG_LEVEL_ERROR, "%sunknown option %s", opt_where, a);
        return -ENOENT;
    }
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "%sbad or missing value for %s", opt_where, a);
        return -EINVAL;
    }
    return 0;
}

/* A config file's "key = value" (config.h): the option --key, the same
 * parser as the command line's.  A flag takes yes or no. */
static int config_option(void *arg, const char *file, unsigned line,
                         const char *key, const char *value)
{
    struct options *o = arg;
    char a[64];
    snprintf(opt_where, sizeof opt_where, "%.250s:%u: ", file, line);
    int rc = 0;
    struct options probe = *o;
    if (snprintf(a, sizeof a, "--%s", key) >= (int)sizeof a ||
        strcmp(key, "config") == 0 || strcmp(key, "version") == 0 ||
        strcmp(key, "help") == 0 || strcmp(key, "check") == 0) {
        log_msg(LOG_LEVEL_ERROR, "%sunknown option %s", opt_where, key);
        rc = -ENOENT;
    } else if (parse_flag(a, &probe, true)) {
        bool yes = strcmp(value, "yes") == 0 || strcmp(value, "true") == 0;
        if (!yes && strcmp(value, "no") != 0 && strcmp(value, "false") != 0) {
            log_msg(LOG_LEVEL_ERROR, "%s%s takes yes or no", opt_where, key);
            rc = -EINVAL;
        } else {
            parse_flag(a, o, yes);
        }
    } else {
        rc = parse_option(a, value, o);
    }
    opt_where[0] = '\0';
    return rc;
}

/* The config file: --config's (the last one given), else the default one
 * if it exists.  Read before the command line, which wins. */
static int load_config(int argc, char **argv, struct options *o)
{
    const char *path = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0)
            path = argv[i + 1];
    if (path == NULL && access(SSFTPD_DEFAULT_CONFIG, F_OK) == 0)
        path = SSFTPD_DEFAULT_CONFIG;
    o->config = path;
    return path == NULL ? 0 : config_load(path, config_option, o);
}

/* A data root named by --root or the config must exist: a typo must not
 * start an empty server ("ssftpd init" makes one).  The default one is
 * made at the first start. */
static int check_root(const struct options *o)
{
    struct stat st;
    if (!o->root_given || stat(o->root, &st) == 0)
        return 0;
    int e = errno;
    log_msg(LOG_LEVEL_ERROR, "data root %s: %s%s%s", o->root, strerror(e),
            e == ENOENT ? "; make it with: ssftpd init --root " : "",
            e == ENOENT ? o->root : "");
    return -e;
}

/* --proxy-protocol needs --proxy-from, and every item of it must be an
 * address or CIDR block (the library's own check, ss_proxy_from_check). */
static int check_proxy(const struct options *o)
{
    size_t bad, badlen;
    if (o->proxy_protocol && o->proxy_from == NULL) {
        log_msg(LOG_LEVEL_ERROR, "--proxy-protocol needs --proxy-from "
                                 "ADDR[/BITS][,...]: the proxies to trust");
        return -EINVAL;
    }
    if (o->proxy_from != NULL && !o->proxy_protocol) {
        log_msg(LOG_LEVEL_ERROR, "--proxy-from without --proxy-protocol");
        return -EINVAL;
    }
    if (o->proxy_from != NULL &&
        ss_proxy_from_check(o->proxy_from, &bad, &badlen) != 0) {
        log_msg(LOG_LEVEL_ERROR,
                "--proxy-from: '%.*s' is not an address or CIDR", (int)badlen,
                o->proxy_from + bad);
        return -EINVAL;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("ssftpd %s\n", SSFTPD_VERSION);
            exit(0);
        }
        if (strcmp(a, "--check") == 0) {
            o->check_only = true;
            i--; /* no value */
            continue;
        }
        char flag[64];
        if (parse_flag(a, o, true) ||
            (strncmp(a, "--no-", 5) == 0 &&
             snprintf(flag, sizeof flag, "--%s", a + 5) < (int)sizeof flag &&
             parse_flag(flag, o, false))) {
            i--; /* no value */
            continue;
        }
        int rc = parse_option(a, i + 1 < argc ? argv[i + 1] : NULL, o);
        if (rc != 0)
            return rc;
    }
    /* A partial a client dropped a moment ago is one it means to resume;
     * and each sweep walks the home. */
    if (o->partial_max_age_s >= 0 && o->partial_max_age_s < 60) {
        log_msg(LOG_LEVEL_ERROR, "--partial-max-age must be 60s or more, or "
                                 "off");
        return -EINVAL;
    }
    if (check_proxy(o) != 0)
        return -EINVAL;
    if (o->max_clients == 0 || o->idle_timeout_s == 0 ||
        o->login_timeout_s == 0 || o->ftp_data_timeout_s == 0) {
        log_msg(LOG_LEVEL_ERROR,
                "--max-clients, --idle-timeout, "
                "--login-timeout and --ftp-data-timeout must be "
                "above 0");
        return -EINVAL;
    }
    return 0;
}

/* An idle session costs one descriptor (its socket): let the server have
 * as many as the hard limit allows, not the soft default of 1024. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_msg(LOG_LEVEL_WARNING, "getrlimit(RLIMIT_NOFILE): %s",
                strerror(errno));
        return;
    }
    if (rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_msg(LOG_LEVEL_WARNING, "setrlimit(RLIMIT_NOFILE): %s",
                strerror(errno));
}

/* The FTP server's loop, on a thread of its own beside the native one. */
static void *ftp_main(void *arg)
{
    ss_server *ftp = arg;
    int rc = ss_server_serve_forever(ftp, 1000);
    if (rc != 0)
        log_msg(LOG_LEVEL_ERROR, "the FTP server stopped: %s", ss_strerror(rc));
    return NULL;
}

/* Creates the FTP server (ftp.h) with the native one's limits; prints
 * "ftp listening on ADDR".  Returns 0 or a negative errno (said). */
static int ftp_start(const struct options *o, const ss_config *native,
                     struct ftp_server *fs, ss_server **out)
{
    ss_config cfg = *native;
    cfg.host = o->ftp_host;
    cfg.port = (uint16_t)o->ftp_port;
    int rc =
        ss_server_create(out, &cfg, &ftp_handler_class, &log_server_ops, fs);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot listen for FTP on %s:%u: %s",
                o->ftp_host, o->ftp_port, ss_strerror(rc));
        return rc;
    }
    fs->server = *out;
    char addr[160];
    socklen_t alen;
    const struct sockaddr *bound = ss_server_address(*out, &alen);
    if (ss_format_address(bound, alen, addr, sizeof addr) < 0)
        snprintf(addr, sizeof addr, "%.100s:%u", o->ftp_host,
                 ss_server_port(*out));
    printf("ftp listening on %s\n", addr);
    fflush(stdout);
    return 0;
}

static void say_how_to_add_users(struct userdb *db, const char *root)
{
    struct userdb_record *all;
    size_t n;
    if (userdb_list(db, &all, &n) != 0)
        return;
    if (n == 0)
        log_msg(LOG_LEVEL_NOTICE,
                "no users yet; add one with: ssftpd user add NAME "
                "--root %s",
                root);
    sodium_memzero(all, n * sizeof *all);
    free(all);
}

/* ssftpd fingerprint [--root DIR] [--tls-cert FILE]: the key users pin. */
static int fingerprint_main(int argc, char **argv)
{
    const char *root = DEFAULT_ROOT, *cert = NULL;
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--root") == 0 && v != NULL)
            root = v;
        else if (strcmp(argv[i], "--tls-cert") == 0 && v != NULL)
            cert = v;
        else {
            fprintf(stderr, "usage: ssftpd fingerprint [--root DIR] "
                            "[--tls-cert FILE]\n");
            return 2;
        }
    }
    char cp[4096], kp[4096], err[512] = "", fp[PROTO_TLS_FP_SIZE];
    int rc = 0;
    if (cert != NULL)
        snprintf(cp, sizeof cp, "%s", cert);
    else
        rc = tlskeys_locate(root, NULL, NULL, false, cp, kp, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "ssftpd: %s\n", err);
        return 1;
    }
    rc = proto_tls_cert_file_fingerprint(cp, fp);
    if (rc != 0) {
        fprintf(stderr, "ssftpd: %s: %s\n", cp,
                rc == -EINVAL ? "not a PEM certificate" : strerror(-rc));
        return 1;
    }
    printf("%s\n", fp);
    return 0;
}

/* --user: the started server can still use its data root as that user;
 * else say so now, not as "wrong user name or password" at each login. */
static int check_root_after_drop(const struct options *o)
{
    char users[4200];
    snprintf(users, sizeof users, "%s/users.json", o->root);
    const char *bad = access(o->root, R_OK | W_OK | X_OK) != 0      ? o->root
                      : access(users, R_OK) != 0 && errno != ENOENT ? users
                                                                    : NULL;
    if (bad == NULL)
        return 0;
    log_msg(LOG_LEVEL_ERROR,
            "--user %s cannot use %s: %s (chown -R %s %s, as root)", o->run_as,
            bad, strerror(errno), o->run_as, o->root);
    return -EACCES;
}

/* --user: becomes that user (privdrop.h), who must be able to use the
 * data root.  Without it, a warning when run as root. */
static int drop_privileges(const struct options *o)
{
    if (o->run_as == NULL) {
        if (geteuid() == 0)
            log_msg(LOG_LEVEL_WARNING, "running as root; --user NAME drops to "
                                       "NAME once the sockets are bound");
        return 0;
    }
    int rc = privdrop_to(o->run_as);
    return rc != 0 ? rc : check_root_after_drop(o);
}

static void options_defaults(struct options *o)
{
    *o = (struct options){.root = DEFAULT_ROOT,
                          .host = DEFAULT_HOST,
                          .port = DEFAULT_PORT,
                          .max_clients = DEFAULT_MAX_CLIENTS,
                          .max_per_ip = DEFAULT_MAX_PER_IP,
                          .idle_timeout_s = PROTO_IDLE_TIMEOUT_S,
                          .login_timeout_s = PROTO_LOGIN_TIMEOUT_S,
                          .default_quota = QUOTA_UNLIMITED,
                          .default_max_files = QUOTA_UNLIMITED,
                          .partial_max_age_s = DEFAULT_PARTIAL_MAX_AGE_S,
                          .ftp_data_timeout_s = FTP_DATA_TIMEOUT_S,
                          .log_level = LOG_LEVEL_INFO};
}

/* What SIGHUP reloads (reload.h). */
struct reloader {
    int argc;
    char **argv;
    const char *root; /* the running one: a reload never moves it */
    const struct options *running; /* as the server started */
    struct session_server *srv;
    struct ftp_server *ftp; /* NULL without --ftp */
};

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* What a reload read but cannot apply, each said once, so that an admin
 * who edited the config and sent SIGHUP knows a restart is still due
 * instead of believing the new limits are in force. */
static void say_what_needs_a_restart(const struct options *was,
                                     const struct options *now)
{
    const struct {
        bool changed;
        const char *option;
    } opts[] = {
        {!same_text(was->root, now->root), "--root"},
        {strcmp(was->host, now->host) != 0 || was->port != now->port,
         "--listen"},
        {was->workers != now->workers, "--workers"},
        {was->max_clients != now->max_clients, "--max-clients"},
        {was->max_per_ip != now->max_per_ip, "--max-per-ip"},
        {was->idle_timeout_s != now->idle_timeout_s, "--idle-timeout"},
        {was->login_timeout_s != now->login_timeout_s, "--login-timeout"},
        {was->default_quota != now->default_quota, "--default-quota"},
        {was->default_max_files != now->default_max_files,
         "--default-max-files"},
        {was->partial_max_age_s != now->partial_max_age_s, "--partial-max-age"},
        {was->isolate != now->isolate, "--isolation"},
        {!same_text(was->run_as, now->run_as), "--user"},
        {was->ftp != now->ftp || strcmp(was->ftp_host, now->ftp_host) != 0 ||
             was->ftp_port != now->ftp_port,
         "--ftp"},
        {was->pasv_lo != now->pasv_lo || was->pasv_hi != now->pasv_hi,
         "--ftp-passive-ports"},
        {was->pasv_addr != now->pasv_addr, "--ftp-passive-address"},
        {was->ftp_allow_plaintext != now->ftp_allow_plaintext,
         "--ftp-allow-plaintext"},
        {was->ftp_active != now->ftp_active, "--ftp-active"},
        {was->ftp_no_reuse != now->ftp_no_reuse, "--ftp-no-tls-reuse"},
        {was->ftp_no_fsync != now->ftp_no_fsync, "--ftp-no-fsync"},
        {was->ftp_data_timeout_s != now->ftp_data_timeout_s,
         "--ftp-data-timeout"},
        {was->proxy_protocol != now->proxy_protocol ||
             !same_text(was->proxy_from, now->proxy_from),
         "--proxy-protocol/--proxy-from"},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (opts[i].changed)
            log_msg(LOG_LEVEL_WARNING,
                    "reload: %s changed; it takes effect at a restart, the "
                    "running value stays",
                    opts[i].option);
}

/* SIGHUP: the config file again, then the command line over it; the TLS
 * pair they name is loaded for new connections (sessions keep theirs), the
 * log and xferlog reopened, the log level set.  Any error keeps the old
 * state.  Other options need a restart, and a changed one says so. */
static void reload_apply(struct reloader *r)
{
    struct options o;
    options_defaults(&o);
    if (load_config(r->argc, r->argv, &o) != 0 ||
        parse_args(r->argc, r->argv, &o) != 0) {
        log_msg(LOG_LEVEL_ERROR, "reload failed, keeping the old state: the "
                                 "options above");
        return;
    }
    /* The log first, so the lines below go to the new file. */
    log_set_level(o.log_level);
    if (o.xferlog != NULL)
        (void)xferlog_open(o.xferlog); /* the old one stays, if it fails */
    if (o.log != NULL && log_open(o.log) != 0)
        log_msg(LOG_LEVEL_ERROR, "reload: keeping the old log");
    char cert[4096], key[4096], err[512] = "", fp[PROTO_TLS_FP_SIZE];
    SSL_CTX *ctx = NULL, *ftp_ctx = NULL;
    int rc = tlskeys_locate(r->root, o.tls_cert, o.tls_key, false, cert, key,
                            err, sizeof err);
    if (rc == 0)
        rc = tlskeys_context(cert, key, &ctx, fp, err, sizeof err);
    if (rc == 0 && r->ftp != NULL)
        rc = ftp_tls_context(cert, key, &ftp_ctx, err, sizeof err);
    if (rc != 0) {
        SSL_CTX_free(ctx);
        log_msg(LOG_LEVEL_ERROR,
                "reload failed, keeping the old state: TLS: "
                "%s",
                err);
        return;
    }
    tlsslot_set(&r->srv->tls, ctx);
    if (r->ftp != NULL)
        tlsslot_set(&r->ftp->tls, ftp_ctx);
    say_what_needs_a_restart(r->running, &o);
    log_msg(LOG_LEVEL_NOTICE, "reloaded; TLS key %s (%s)", fp, cert);
}

/* SIGHUP, from the server's loop (reload.h); systemd hears of it
 * (sdnotify.h), whether the reload took or the old state stays. */
static void reload_now(void *arg)
{
    (void)sdnotify_reloading();
    reload_apply(arg);
    (void)sdnotify_ready(NULL);
}

/* What main() made before a failure at start-up, freed (so that a
 * sanitizer's leak check stays quiet); returns main's status 1. */
static int fail_core(struct session_server *srv, struct ftp_server *fs,
                     struct isolation *iso)
{
    isolation_destroy(iso);
    quota_registry_destroy(srv->quotas);
    backoff_destroy(srv->backoff);
    userdb_close(srv->db);
    tlsslot_set(&srv->tls, NULL);
    tlsslot_set(&fs->tls, NULL);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "user") == 0)
        return admin_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "fingerprint") == 0)
        return fingerprint_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "init") == 0)
        return admin_init_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "who") == 0)
        return who_main(argc, argv);
    struct options o;
    options_defaults(&o);
    if (load_config(argc, argv, &o) != 0)
        return 2;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    /* systemd socket activation (sdlisten.h): sockets passed as fd 3, 4;
     * taken before anything else opens a descriptor */
    int sd_native = -1, sd_ftp = -1;
    if (sdlisten_take(o.ftp, &sd_native, &sd_ftp) < 0)
        return 1;
    if (check_root(&o) != 0)
        return 1;
    if (o.check_only && o.run_as != NULL && getpwnam(o.run_as) == NULL) {
        log_msg(LOG_LEVEL_ERROR, "--user %s: no such user", o.run_as);
        return 1;
    }
    if (o.check_only) {
        printf("ssftpd: options ok%s%s\n", o.config ? ", config " : "",
               o.config ? o.config : "");
        return 0;
    }
    log_set_level(o.log_level);
    if ((o.log != NULL && log_open(o.log) != 0) ||
        (o.xferlog != NULL && xferlog_open(o.xferlog) != 0))
        return 1;
    int rc;
    if (proto_init() != 0) {
        log_msg(LOG_LEVEL_ERROR, "libsodium cannot initialise");
        return 1;
    }
    atomic_uint thread_sessions = 0;
    struct session_server srv = {.sessions = &thread_sessions,
                                 .max_clients = o.max_clients,
                                 .idle_timeout_ms =
                                     (int)o.idle_timeout_s * 1000,
                                 .login_timeout_s = o.login_timeout_s};
    struct ftp_server ftp_srv = {.core = &srv,
                                 .pasv_lo = o.pasv_lo,
                                 .pasv_hi = o.pasv_hi,
                                 .pasv_addr = o.pasv_addr,
                                 .allow_plaintext = o.ftp_allow_plaintext,
                                 .allow_active = o.ftp_active,
                                 .require_reuse = !o.ftp_no_reuse,
                                 .no_fsync = o.ftp_no_fsync,
                                 .data_timeout_ms =
                                     (int)o.ftp_data_timeout_s * 1000};
    struct isolation *iso = NULL;
    rc = userdb_open(o.root, &srv.db);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot open data root %s: %s", o.root,
                strerror(-rc));
        return fail_core(&srv, &ftp_srv, iso);
    }
    say_how_to_add_users(srv.db, o.root);
    /* Said now, not as "internal" at every upload. */
    rc = jail_supported();
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR,
                "cannot confine paths to the homes: openat2: %s (it needs "
                "Linux 5.6 or later, and no seccomp filter that hides it: "
                "systemd's RestrictSUIDSGID=, which DynamicUser= implies, "
                "does)",
                strerror(-rc));
        return fail_core(&srv, &ftp_srv, iso);
    }
    char cert[4096], key[4096], err[512], fp[PROTO_TLS_FP_SIZE];
    rc = tlskeys_locate(o.root, o.tls_cert, o.tls_key, true, cert, key, err,
                        sizeof err);
    SSL_CTX *ctx = NULL;
    if (rc == 0)
        rc = tlskeys_context(cert, key, &ctx, fp, err, sizeof err);
    tlsslot_set(&srv.tls, ctx);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "TLS: %s", err);
        return fail_core(&srv, &ftp_srv, iso);
    }
    log_msg(LOG_LEVEL_NOTICE, "TLS key %s (%s)", fp, cert);
    if (o.ftp) {
        ctx = NULL;
        rc = ftp_tls_context(cert, key, &ctx, err, sizeof err);
        tlsslot_set(&ftp_srv.tls, ctx);
        if (rc != 0) {
            log_msg(LOG_LEVEL_ERROR, "FTP TLS: %s", err);
            return fail_core(&srv, &ftp_srv, iso);
        }
    }
    struct quota_config qc = {.default_bytes = o.default_quota,
                              .default_entries = o.default_max_files,
                              .partial_max_age_s = o.partial_max_age_s};
    rc = quota_registry_create(srv.db, &qc, &srv.quotas);
    if (rc == 0)
        rc = backoff_create(&srv.backoff);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start: %s", strerror(-rc));
        return fail_core(&srv, &ftp_srv, iso);
    }

    raise_nofile();
    ss_config cfg;
    ss_config_init(&cfg, SS_TCP);
    cfg.concurrency = SS_THREADING;
    cfg.host = o.host;
    cfg.port = (uint16_t)o.port;
    cfg.min_workers = 0;
    /* Sessions are parked between requests: a worker is busy only while a
     * command or a transfer runs, so the pool stays small; the bound is
     * for the worst case, every session transferring at once.  Workers
     * left idle after a burst (a wave of logins) go after 2 s. */
    cfg.max_workers = o.workers != 0 ? o.workers : o.max_clients + 16;
    cfg.idle_worker_ms = 2000;
    cfg.queue_capacity = 256;
    cfg.worker_stack_size = PROTO_WORKER_STACK;
    /* The hard cap sits above max-clients so that the first few over it get
     * a "busy" reply to hello instead of a bare close. */
    cfg.max_connections = o.max_clients + 16;
    cfg.max_per_address = o.max_per_ip;
    cfg.drain_timeout_ms = DRAIN_MS;
    cfg.proxy_protocol = o.proxy_protocol; /* both listeners */
    cfg.proxy_from = o.proxy_from;
    ss_config ftp_cfg = cfg; /* FTP sessions are threads in every mode */
    /* the sockets systemd passed (sdlisten_take above), else -1 */
    cfg.listen_fd = sd_native;
    ftp_cfg.listen_fd = sd_ftp;
    const ss_handler_class *handler = &session_handler_class;
    const ss_server_ops *ops = NULL;
    if (o.isolate) {
        rc = isolation_create(&iso, &srv, &cfg, DRAIN_MS, &handler, &ops);
        if (rc != 0) {
            log_msg(LOG_LEVEL_ERROR, "cannot start: %s", strerror(-rc));
            return fail_core(&srv, &ftp_srv, iso);
        }
    }
    /* SIGHUP: reload_now() on the loop's thread (reload.h). */
    struct reloader rl = {.argc = argc,
                          .argv = argv,
                          .root = o.root,
                          .running = &o,
                          .srv = &srv,
                          .ftp = o.ftp ? &ftp_srv : NULL};
    ops =
        reload_on_sighup(ops != NULL ? ops : &log_server_ops, reload_now, &rl);
    if (ops == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot handle SIGHUP: %s", strerror(errno));
        return fail_core(&srv, &ftp_srv, iso);
    }
    ss_server *server;
    rc = ss_server_create(&server, &cfg, handler, ops, &srv);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot listen on %s:%u: %s", o.host, o.port,
                ss_strerror(rc));
        return fail_core(&srv, &ftp_srv, iso);
    }
    srv.server = server;
    /* SIGINT/SIGTERM stop the loop; close then drains (DRAIN_MS). */
    rc = ss_server_shutdown_on_signals(server);
    if (rc != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot handle signals: %s", ss_strerror(rc));
        ss_server_destroy(server);
        return fail_core(&srv, &ftp_srv, iso);
    }

    /* "ssftpd who" (who.h): the registry every session writes to (shared
     * with forked session children) and the control socket in ROOT/run
     * that hands it out, stopped at exit.  The server serves without. */
    if (who_create(&srv.who, cfg.max_connections * (o.ftp ? 2 : 1)) != 0 ||
        whosock_start(srv.who, o.root) != 0) {
        srv.who = NULL;
        fprintf(stderr, "ssftpd: ssftpd who cannot list this server's "
                        "sessions\n");
    }

    char addr[160];
    socklen_t alen;
    const struct sockaddr *bound = ss_server_address(server, &alen);
    if (ss_format_address(bound, alen, addr, sizeof addr) < 0)
        snprintf(addr, sizeof addr, "%.100s:%u", o.host,
                 ss_server_port(server));
    printf("listening on %s\n", addr);
    fflush(stdout);

    ss_server *ftp = NULL;
    pthread_t ftp_thread;
    if (o.ftp) {
        rc = ftp_start(&o, &ftp_cfg, &ftp_srv, &ftp);
        if (rc == 0)
            rc = drop_privileges(&o);
        if (rc == 0) {
            rc = -pthread_create(&ftp_thread, NULL, ftp_main, ftp);
            if (rc != 0)
                log_msg(LOG_LEVEL_ERROR, "cannot start the FTP server: %s",
                        strerror(-rc));
        }
        if (rc != 0) {
            ss_server_destroy(ftp);
            ss_server_close(server);
            ss_server_destroy(server);
            return fail_core(&srv, &ftp_srv, iso);
        }
    }

    if (!o.ftp && drop_privileges(&o) != 0) {
        ss_server_close(server);
        ss_server_destroy(server);
        return fail_core(&srv, &ftp_srv, iso);
    }

    sdnotify_ready(addr); /* systemd Type=notify (sdnotify.h) */
    rc = ss_server_serve_forever(server, 1000);
    sdnotify_stopping();
    log_msg(LOG_LEVEL_NOTICE, "shutting down; waiting for transfers");
    if (ftp != NULL) {
        ss_server_shutdown(ftp);
        pthread_join(ftp_thread, NULL);
        ss_server_close(ftp);
        ss_server_destroy(ftp);
    }
    isolation_stop(iso);
    ss_server_close(server);
    ss_server_destroy(server);
    isolation_destroy(iso);
    quota_registry_destroy(srv.quotas);
    backoff_destroy(srv.backoff);
    userdb_close(srv.db);
    tlsslot_set(&srv.tls, NULL);
    tlsslot_set(&ftp_srv.tls, NULL);
    log_msg(LOG_LEVEL_NOTICE, "stopped");
    return rc == 0 ? 0 : 1;
}
