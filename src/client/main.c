/* main.c -- ssftp, the client: command line, password, then one command,
 * batch mode or the interactive shell.
 *
 *     ssftp [-u USER] [-p PORT] [--password-file FILE] [--no-progress]
 *           [--accept-new-host-key | --host-key SHA256:...] [-v]
 *           [--keepalive SECONDS] [--limit-rate RATE] [-b FILE]
 *           HOST[:PORT] [COMMAND ARGS...]
 *     ssftp --version
 *
 * Exit status (conn.h): 0 success, 1 a command failed, 2 usage, 3 cannot
 * connect or the connection broke, 4 login failed, 130 interrupted.  Every
 * failure is one line on stderr starting "ssftp: ".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <fcntl.h>

#include "commands.h"
#include "config.h"
#include "conn.h"
#include "hostkey.h"
#include "keycache.h"
#include "shell.h"
#include "text.h"
#include "transfer.h"

#define DEFAULT_PORT "2121"
#define PASSWORD_MAX 1024

static void usage(FILE *out)
{
    fputs("usage: ssftp [-u USER] [-p PORT] [--password-file FILE] "
          "[--no-progress]\n"
          "             [--accept-new-host-key | --host-key SHA256:...] [-v]\n"
          "             [--keepalive SECONDS] [--limit-rate RATE] [-b FILE]\n"
          "             HOST[:PORT]"
          "             [COMMAND ARGS...]\n"
          "       ssftp --version\n"
          "With a COMMAND, runs it and exits; with -b FILE (- for stdin) or\n"
          "stdin not a terminal, runs one command a line and stops at the\n"
          "first that fails, unless the line starts with '-'; else a shell.\n"
          "put - NAME reads stdin to its end into an unlinked file in\n"
          "$TMPDIR first (a put announces its size), then uploads it\n"
          "verified; get FILE - writes stdout only once it is verified.\n"
          "Password: $SSFTP_PASSWORD, --password-file, or asked on the "
          "terminal.\n"
          "Server keys: a certificate the system trusts for HOST, or the key\n"
          "remembered in ~/.config/ssftp/known_hosts; a new one is asked "
          "about\n"
          "on a terminal, else refused unless --accept-new-host-key, or\n"
          "--host-key gives it.  -v says the TLS version, cipher and key.\n"
          "~/.config/ssftp/config: \"user NAME\", \"port N\" and \"bookmark\n"
          "NAME HOST[:PORT] [USER]\" lines; the command line wins.\n"
          "Exit status: 0 success; 1 a command failed; 2 usage (bad option\n"
          "or command arguments, unknown command, no password); 3 cannot\n"
          "connect, or the connection broke; 4 login refused or the server's\n"
          "key refused; 130 interrupted (Ctrl-C during a transfer; in the\n"
          "shell it stops the transfer and returns to the prompt).  A shell\n"
          "or batch reconnects when the connection breaks and resumes a\n"
          "transfer it broke, or a command that only reads, once.\n"
          "--keepalive SECONDS: the shell sends a no-op this often while\n"
          "it waits at the prompt, so the server's idle timeout never ends\n"
          "the session.\n"
          "--limit-rate RATE: put and get move at most RATE bytes a second\n"
          "(K, M, G: 1024-based; at least 1K), smoothly; \"limit-rate RATE\"\n"
          "in the config, \"rate RATE|off\" in the shell.\n"
          "Commands:\n",
          out);
    cmd_help(out);
}

/* Ask on the terminal with echo off.  Returns 0 or -errno (-ENOTTY when
 * there is no terminal to ask on). */
static int prompt_password(const char *user, const char *host, char *buf,
                           size_t cap)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -ENOTTY;
    char prompt[600];
    snprintf(prompt, sizeof prompt, "%s@%s's password: ", user, host);
    int r = proto_prompt_secret(fd, fd, prompt, buf, cap);
    close(fd);
    return r < 0 ? r : 0;
}

static int get_password(const char *file, const char *user, const char *host,
                        char *buf, size_t cap)
{
    const char *env = getenv("SSFTP_PASSWORD");
    if (env != NULL) {
        if (strlen(env) >= cap)
            return -ENAMETOOLONG;
        strcpy(buf, env);
        return 0;
    }
    if (file != NULL) {
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int r = proto_read_secret_line(fd, buf, cap);
        close(fd);
        return r < 0 ? r : 0;
    }
    return prompt_password(user, host, buf, cap);
}

static void batch_close(FILE *f)
{
    if (f != NULL && f != stdin)
        fclose(f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {"port", required_argument, NULL, 'p'},
        {"password-file", required_argument, NULL, 'P'},
        {"no-progress", no_argument, NULL, 'n'},
        {"accept-new-host-key", no_argument, NULL, 'A'},
        {"host-key", required_argument, NULL, 'K'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"batch", required_argument, NULL, 'b'},
        {"keepalive", required_argument, NULL, 'k'},
        {"limit-rate", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *pwfile = NULL, *batch = NULL;
    const char *port = NULL, *rate = NULL;
    bool no_progress = false;
    int keepalive = 0;
    hostkey_opts hk = {0};
    int opt;
    /* '+': options end at HOST, so "ls -x" reaches the command. */
    while ((opt = getopt_long(argc, argv, "+u:p:b:hv", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            user = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'P':
            pwfile = optarg;
            break;
        case 'n':
            no_progress = true;
            break;
        case 'A':
            hk.accept_new = true;
            break;
        case 'K':
            hk.pin = optarg;
            break;
        case 'v':
            hk.verbose = true;
            break;
        case 'b':
            batch = optarg;
            break;
        case 'k': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 86400) {
                fputs("ssftp: --keepalive takes seconds, 1..86400\n", stderr);
                return SSFTP_USAGE;
            }
            keepalive = (int)v;
            break;
        }
        case 'l':
            rate = optarg;
            break;
        case 'h':
            usage(stdout);
            return SSFTP_OK;
        case 'V':
            puts("ssftp " SSFTP_VERSION);
            return fflush(stdout) == 0 ? SSFTP_OK : SSFTP_FAIL;
        default:
            usage(stderr);
            return SSFTP_USAGE;
        }
    }
    if (optind >= argc) {
        fputs("ssftp: expected HOST[:PORT]\n", stderr);
        return SSFTP_USAGE;
    }
    /* The command line, then a bookmark, then the defaults. */
    static client_config cfg;
    char cfg_path[4096], why[1024];
    if (config_file("config", cfg_path, sizeof cfg_path) == 0 &&
        config_load(cfg_path, argv[optind], &cfg, why, sizeof why) != 0) {
        fprintf(stderr, "ssftp: %s\n", why);
        return SSFTP_USAGE;
    }
    uint64_t bps = cfg.limit_rate;
    const char *bad = rate ? transfer_rate_parse(rate, &bps) : NULL;
    if (bad != NULL) {
        char *e = text_escape(rate);
        fprintf(stderr, "ssftp: --limit-rate: '%s' is %s\n", e ? e : "?", bad);
        free(e);
        return SSFTP_USAGE;
    }
    transfer_limit_rate(bps);
    const char *where = cfg.bookmarked ? cfg.host : argv[optind];
    char host[256];
    const char *given = NULL;
    if (proto_hostport_split(where, host, sizeof host, &given) != 0) {
        fputs("ssftp: expected HOST[:PORT]\n", stderr);
        return SSFTP_USAGE;
    }
    if (port == NULL)
        port = given ? given : cfg.port[0] ? cfg.port : DEFAULT_PORT;
    else if (given != NULL && !cfg.bookmarked)
        port = given; /* HOST:PORT as typed, as before */
    if (user == NULL)
        user = cfg.host_user[0] ? cfg.host_user
               : cfg.user[0]    ? cfg.user
                                : getenv("USER");
    if (batch != NULL && optind + 1 < argc) {
        fputs("ssftp: -b FILE and a COMMAND: give one\n", stderr);
        return SSFTP_USAGE;
    }
    if (user == NULL || *user == '\0') {
        fputs("ssftp: no user name: use -u USER\n", stderr);
        return SSFTP_USAGE;
    }
    /* A reader of stdout that goes away (get FILE - | head) is an error
     * said on stderr, not a silent death; sockets never raise it anyway. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPIPE, &ign, NULL) != 0) {
        fprintf(stderr, "ssftp: sigaction: %s\n", strerror(errno));
        return SSFTP_FAIL;
    }
    if (proto_init() != 0) {
        fputs("ssftp: cannot initialise libsodium\n", stderr);
        return SSFTP_FAIL;
    }
    /* Opened before connecting: a wrong name costs no login. */
    FILE *batch_in = NULL;
    if (batch != NULL) {
        batch_in = strcmp(batch, "-") == 0 ? stdin : fopen(batch, "re");
        if (batch_in == NULL) {
            fprintf(stderr, "ssftp: -b %s: %s\n", batch, strerror(errno));
            return SSFTP_USAGE;
        }
    }

    /* Whom we talk to is settled (TLS, the server's key) before the
     * password is asked for. */
    client_conn c;
    int status = conn_open(&c, host, port, &hk);
    if (status != SSFTP_OK) {
        fprintf(stderr, "ssftp: %s\n", c.err);
        conn_close(&c);
        batch_close(batch_in);
        return status;
    }
    /* Kept (guarded, wiped at the end) while a shell may reconnect. */
    char *password = sodium_malloc(PASSWORD_MAX);
    int r = password ? get_password(pwfile, user, host, password, PASSWORD_MAX)
                     : -ENOMEM;
    if (r) {
        sodium_free(password);
        conn_close(&c);
        batch_close(batch_in);
        if (r == -ENOTTY)
            fputs("ssftp: no password: set SSFTP_PASSWORD, use "
                  "--password-file, or run on a terminal\n",
                  stderr);
        else
            fprintf(stderr, "ssftp: password: %s\n", strerror(-r));
        return SSFTP_USAGE;
    }

    status = conn_login(&c, user, password);
    optind++;
    bool shell = optind >= argc;
    if (!shell || status != SSFTP_OK) {
        sodium_free(password); /* zeroes it */
        password = NULL;
    }
    if (status != SSFTP_OK) {
        fprintf(stderr, "ssftp: %s\n", c.err);
        conn_close(&c);
        keycache_clear();
        batch_close(batch_in);
        return status;
    }

    conn_target target = {.host = host,
                          .port = port,
                          .user = user,
                          .hk = &hk,
                          .password = password};
    cmd_opts o = {.progress = !no_progress && isatty(STDERR_FILENO),
                  .target = shell ? &target : NULL,
                  .keepalive_s = keepalive};
    if (!shell) {
        status = cmd_run(&c, argc - optind, argv + optind, &o);
        if (status != SSFTP_OK)
            fprintf(stderr, "ssftp: %s\n", c.err);
    } else if (batch_in != NULL) {
        status = shell_batch(&c, &o, batch_in);
    } else if (isatty(STDIN_FILENO)) {
        status = shell_interactive(&c, &o);
    } else {
        status = shell_batch(&c, &o, stdin);
    }
    batch_close(batch_in);
    conn_close(&c);
    sodium_free(password);
    keycache_clear();
    if (fflush(stdout) != 0 && status == SSFTP_OK) {
        fputs("ssftp: write error on stdout\n", stderr);
        status = SSFTP_FAIL;
    }
    return status;
}
