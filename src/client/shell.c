/* shell.c -- the interactive shell and batch mode. */
#include "shell.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "hostkey.h"
#include "text.h"
#include "transfer.h"

#define SHELL_MAX_WORDS 16

int shell_split(char *line, char **argv, int max)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        if (*r == '\0')
            return n;
        if (n == max)
            return -EINVAL;
        argv[n++] = w;
        char quote = 0;
        while (*r && (quote ||
                      (*r != ' ' && *r != '\t' && *r != '\r' && *r != '\n'))) {
            if (quote && *r == quote) {
                quote = 0;
                r++;
            } else if (!quote && (*r == '\'' || *r == '"')) {
                quote = *r++;
            } else if (*r == '\\' && quote != '\'' && r[1]) {
                *w++ = r[1];
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        if (quote)
            return -EINVAL;
        if (*r)
            r++;
        *w++ = '\0';
    }
}

/* Run one line.  Returns SSFTP_OK, or a status with c->err set.  A line
 * "!COMMAND" goes to /bin/sh as typed (cmd_shell()). */
static int run_line(client_conn *c, char *line, cmd_opts *o)
{
    line += strspn(line, " \t");
    if (line[0] == '!') {
        line[strcspn(line, "\r\n")] = '\0';
        return cmd_shell(c, line + 1);
    }
    char *argv[SHELL_MAX_WORDS];
    int argc = shell_split(line, argv, SHELL_MAX_WORDS);
    if (argc < 0)
        return conn_fail(c, SSFTP_USAGE,
                         "unterminated quote or too many words");
    if (argc == 0 || argv[0][0] == '#')
        return SSFTP_OK;
    return cmd_run(c, argc, argv, o);
}

/* ---- a broken connection: reconnect, and retry a transfer once ---------- */

/* Commands that may run again after a broken connection: transfers
 * (they resume) and those that only read.  Not mkdir, rm, rmdir, mv: the
 * first try may have been done. */
static bool retry_safe(const char *line)
{
    line += strspn(line, " \t-");
    size_t n = strcspn(line, " \t\r\n");
    static const char *const words[] = {"put", "get", "mput", "mget", "ls",
                                        "cd",  "pwd", "stat", "quota"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (n == strlen(words[i]) && strncmp(line, words[i], n) == 0)
            return true;
    return false;
}

/* Runs line; when that broke the connection (and the session may be
 * opened again: o->target), reconnects, saying so, and runs it once more
 * if retry_safe() (a transfer resumes where it stopped) -- unless it was
 * stopped by Ctrl-C, which is said instead.  Failures are printed by the caller
 * (prefix, then c->err), except the reconnect's own. */
static int run_line_again(client_conn *c, char *line, cmd_opts *o,
                          const char *prefix)
{
    char *copy = o->target && retry_safe(line) ? strdup(line) : NULL;
    int status = run_line(c, line, o);
    bool stopped = transfer_interrupted();
    if (stopped)
        conn_fail(c, status == SSFTP_OK ? SSFTP_FAIL : status,
                  "interrupted; run the same command again to resume");
    if (!c->dead || o->quit || o->target == NULL) {
        free(copy);
        return status;
    }
    fprintf(stderr, "ssftp: %s%s\n", prefix, c->err);
    int again = conn_reconnect(c, o->target);
    char *h = text_escape(c->host);
    if (again == SSFTP_OK)
        fprintf(stderr, "ssftp: reconnected to %s\n", h ? h : "?");
    free(h);
    if (again != SSFTP_OK) {
        free(copy);
        return again; /* c->err says why */
    }
    if (copy != NULL && !stopped) {
        fprintf(stderr, "ssftp: trying it once more\n");
        status = run_line(c, copy, o);
        (void)transfer_interrupted();
    } else {
        status = SSFTP_OK; /* said already */
    }
    free(copy);
    return status;
}

/* ---- tab completion: command names, then remote or local paths ---------- */

static client_conn *complete_conn;
static json_t *complete_list;
static size_t complete_next;

static char *remote_generator(const char *text, int state)
{
    (void)text; /* complete_list was made for it */
    if (state == 0)
        complete_next = 0;
    const char *s =
        json_string_value(json_array_get(complete_list, complete_next++));
    return s ? strdup(s) : NULL;
}

/* Which operand the word at start is: 0 for the command, else counting
 * the words before it that are not -flags. */
static int operand_at(const char *line, int start, char *cmd, size_t cap)
{
    int operand = 0;
    cmd[0] = '\0';
    for (int i = 0; i < start;) {
        while (i < start && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= start)
            break;
        int w = i;
        while (i < start && line[i] != ' ' && line[i] != '\t')
            i++;
        if (operand == 0 && cmd[0] == '\0') {
            snprintf(cmd, cap, "%.*s", i - w, line + w);
            operand = 1;
        } else if (line[w] != '-') {
            operand++;
        }
        if (cmd[0] == '!')
            break; /* "!cmd ...": all local */
    }
    return cmd[0] == '\0' ? 0 : operand;
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    char cmd[32];
    int operand = operand_at(rl_line_buffer, start, cmd, sizeof cmd);
    rl_completion_append_character = ' ';
    if (operand == 0 && text[0] != '!') {
        rl_attempted_completion_over = 1;
        return rl_completion_matches(text, cmd_complete_name);
    }
    switch (cmd_operand_side(operand == 0 ? "!" : cmd, operand)) {
    case CMD_LOCAL:
        return NULL; /* libedit's own: local file names */
    case CMD_REMOTE:
        rl_attempted_completion_over = 1;
        json_decref(complete_list);
        complete_list = cmd_remote_names(complete_conn, text);
        if (json_array_size(complete_list) == 1) {
            const char *only =
                json_string_value(json_array_get(complete_list, 0));
            if (only && only[0] && only[strlen(only) - 1] == '/')
                rl_completion_append_character = '\0';
        }
        return rl_completion_matches(text, remote_generator);
    default:
        rl_attempted_completion_over = 1;
        return NULL;
    }
}

/* ---- history, kept across sessions ------------------------------------- */

#define HISTORY_MAX 1000

/* Writes the history to path, private (0600) like known_hosts beside it;
 * a failure is said and costs nothing else. */
static void history_save(const char *path)
{
    int fd = -1, err = config_make_parent(path);
    if (err == 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        err = fd < 0 ? -errno : 0;
    }
    if (fd >= 0)
        close(fd);
    if (err == 0)
        err = -write_history(path); /* errno, or 0 */
    if (err != 0) {
        char *e = text_escape(path);
        fprintf(stderr, "ssftp: history %s: %s\n", e ? e : "?", strerror(-err));
        free(e);
    }
}

/* ---- Ctrl-C at the prompt: drop the line, not the session -------------- */

static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_sigint(int sig)
{
    (void)sig;
    prompt_interrupted = 1;
}

/* libedit's character source.  A Ctrl-C interrupts the read (the handler is
 * installed without SA_RESTART); we then end the line with a newline, and
 * shell_interactive() throws the line away. */
static int keepalive_ms; /* 0: none */

/* While the prompt waits, a pwd every keepalive_ms keeps the session
 * from the server's idle timeout (a failure marks it dead; the next
 * command reconnects). */
static void keepalive_wait(int fd)
{
    while (keepalive_ms > 0 && complete_conn != NULL && !complete_conn->dead &&
           !prompt_interrupted) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, keepalive_ms);
        if (r != 0)
            return; /* input, or EINTR: the caller reads or sees Ctrl-C */
        json_t *rep = NULL;
        (void)conn_call(complete_conn, json_pack("{s:s}", "cmd", "pwd"), &rep);
        json_decref(rep);
    }
}

static int prompt_getc(FILE *in)
{
    for (;;) {
        if (prompt_interrupted)
            return '\n';
        keepalive_wait(fileno(in));
        if (prompt_interrupted)
            return '\n';
        unsigned char ch;
        ssize_t n = read(fileno(in), &ch, 1);
        if (n == 1)
            return ch;
        if (n == 0)
            return EOF;
        if (errno != EINTR)
            return EOF;
    }
}

static int shell_loop(client_conn *c, cmd_opts *o)
{
    while (!o->quit && !c->dead) {
        prompt_interrupted = 0;
        char *u = text_escape(c->user), *h = text_escape(c->host),
             *d = text_escape(c->cwd);
        char prompt[PROTO_PATH_MAX + 512];
        snprintf(prompt, sizeof prompt, "%s@%s:%s> ", u ? u : "?", h ? h : "?",
                 d ? d : "?");
        free(u);
        free(h);
        free(d);
        char *line = readline(prompt);
        if (prompt_interrupted) { /* Ctrl-C: a fresh prompt */
            free(line);
            continue;
        }
        if (line == NULL) { /* Ctrl-D */
            putchar('\n');
            break;
        }
        if (line[strspn(line, " \t")] != '\0')
            add_history(line);
        if (run_line_again(c, line, o, "") != SSFTP_OK)
            fprintf(stderr, "ssftp: %s\n", c->err);
        free(line);
    }
    return c->dead && !o->quit ? SSFTP_CONN : SSFTP_OK;
}

int shell_interactive(client_conn *c, cmd_opts *o)
{
    /* Our own SIGINT handling instead of libedit's, which re-raises the
     * signal and so ends the process.  Transfers install their own handler
     * (transfer.c) and put this one back when they end. */
    rl_catch_signals = 0;
    rl_getc_function = prompt_getc;
    struct sigaction sa = {.sa_handler = on_prompt_sigint}, old;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &old) != 0)
        return conn_fail(c, SSFTP_FAIL, "sigaction: %s", strerror(errno));
    complete_conn = c;
    keepalive_ms = o->keepalive_s > 0 && o->keepalive_s < INT_MAX / 1000
                       ? o->keepalive_s * 1000
                       : 0;
    transfer_interruptible(true);
    rl_attempted_completion_function = complete;
    using_history();
    stifle_history(HISTORY_MAX);
    char hist[4096];
    bool keep = config_file("history", hist, sizeof hist) == 0;
    if (keep)
        (void)read_history(hist); /* none yet is fine */
    puts("Type help for the list of commands.");
    int status = shell_loop(c, o);
    (void)sigaction(SIGINT, &old, NULL);
    if (keep)
        history_save(hist);
    json_decref(complete_list);
    complete_list = NULL;
    transfer_interruptible(false);
    return status;
}

int shell_batch(client_conn *c, cmd_opts *o, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    int status = SSFTP_OK;
    while (!o->quit && !c->dead && getline(&line, &cap, in) >= 0) {
        lineno++;
        /* "-cmd": as sftp, a failure of this line is said and the batch
         * goes on (a broken connection still ends it). */
        char *l = line + strspn(line, " \t");
        bool may_fail = l[0] == '-';
        char where[32];
        snprintf(where, sizeof where, "line %lu: ", lineno);
        status = run_line_again(c, may_fail ? l + 1 : l, o, where);
        if (status != SSFTP_OK) {
            fprintf(stderr, "ssftp: %s%s\n", where, c->err);
            if (!may_fail || c->dead)
                break;
            status = SSFTP_OK;
        }
    }
    if (status == SSFTP_OK && ferror(in)) {
        status =
            conn_fail(c, SSFTP_FAIL, "reading commands: %s", strerror(errno));
        fprintf(stderr, "ssftp: %s\n", c->err);
    }
    free(line);
    if (status == SSFTP_OK && c->dead && !o->quit)
        status = SSFTP_CONN;
    return status;
}
