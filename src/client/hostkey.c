/* hostkey.c -- the server's key: verified by CA, or pinned (hostkey.h). */
#include "hostkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

int config_file(const char *leaf, char *path, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(path, cap, "%s/ssftp/%s", xdg, leaf);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(path, cap, "%s/.config/ssftp/%s", home, leaf);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int hostkey_file(char *path, size_t cap)
{
    return config_file("known_hosts", path, cap);
}

int config_make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

/* Looks up name in file: 1 with the key in fp and its line number, 0 if
 * absent (or no file), negative on a read error. */
static int lookup(const char *file, const char *name, char *fp, size_t fpcap,
                  unsigned *lineno)
{
    FILE *f = fopen(file, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : -errno;
    char line[1024];
    int found = 0;
    for (unsigned n = 1; fgets(line, sizeof line, f) != NULL; n++) {
        char host[512], key[128];
        if (line[0] == '#' || sscanf(line, "%511s %127s", host, key) != 2)
            continue;
        if (strcmp(host, name) == 0) {
            snprintf(fp, fpcap, "%s", key);
            *lineno = n;
            found = 1;
            break;
        }
    }
    int err = ferror(f) ? -EIO : 0;
    fclose(f);
    return err != 0 ? err : found;
}

static int remember(const char *file, const char *name, const char *fp)
{
    int rc = config_make_parent(file);
    if (rc != 0)
        return rc;
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char line[700];
    int n = snprintf(line, sizeof line, "%s %s\n", name, fp);
    rc = write(fd, line, (size_t)n) == n ? 0 : -EIO;
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* On a terminal: shows the key and asks.  True for yes. */
static bool ask(const char *name, const char *fp)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return false;
    FILE *tty = fopen("/dev/tty", "r+e");
    if (tty == NULL)
        return false;
    fprintf(tty,
            "The server %s is not known yet.\n"
            "Its key fingerprint is %s.\n"
            "Check it with the server's admin (ssftpd fingerprint).\n"
            "Accept it and remember it? [y/N] ",
            name, fp);
    fflush(tty);
    char answer[16] = "";
    bool yes = fgets(answer, sizeof answer, tty) != NULL &&
               (answer[0] == 'y' || answer[0] == 'Y');
    fclose(tty);
    return yes;
}

int hostkey_check(client_conn *c, const char *host, const char *port,
                  const hostkey_opts *o)
{
    char fp[PROTO_TLS_FP_SIZE];
    if (proto_tls_peer_fingerprint(&c->io, fp) != 0)
        return conn_fail(c, SSFTP_AUTH, "%s: the server sent no key", host);
    /* The CA store is read only when the answer matters (or is shown): a
     * pinned key that matches needs none. */
    int ca = o->verbose ? proto_tls_verified(&c->io) : -1;
    if (o->verbose)
        fprintf(stderr, "ssftp: %s %s, server key %s%s\n",
                proto_tls_version(&c->io), proto_tls_cipher(&c->io), fp,
                ca ? " (certificate verified)" : "");
    char name[300];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(name, sizeof name, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
             port);
    char *safe = text_escape(name);
    const char *shown = safe ? safe : "?";
    int status = SSFTP_OK;
    if (o->pin != NULL) {
        if (strcmp(o->pin, fp) != 0)
            status = conn_fail(c, SSFTP_AUTH,
                               "%s: the server's key is %s, not the %s of "
                               "--host-key: refused",
                               shown, fp, o->pin);
        free(safe);
        return status;
    }
    /* A key that chains to a CA for this name, or the one remembered. */
    char file[4096], known[128];
    unsigned lineno = 0;
    int rc = hostkey_file(file, sizeof file);
    int found = rc == 0 ? lookup(file, name, known, sizeof known, &lineno) : rc;
    if (found == 1 && strcmp(known, fp) == 0) {
        free(safe);
        return SSFTP_OK;
    }
    if (ca < 0)
        ca = proto_tls_verified(&c->io);
    if (ca) {
        free(safe);
        return SSFTP_OK;
    }
    if (found < 0) {
        status =
            conn_fail(c, SSFTP_FAIL, "known hosts file: %s", strerror(-found));
    } else if (found == 1 && strcmp(known, fp) != 0) {
        status = conn_fail(
            c, SSFTP_AUTH,
            "the key of %s has CHANGED: it is now %s, and line %u of %s says "
            "%s.  Someone may be in the middle; or the server got a new key, "
            "and then (ask its admin) remove line %u of that file",
            shown, fp, lineno, file, known, lineno);
    } else if (found == 0) {
        if (o->accept_new || ask(shown, fp)) {
            rc = remember(file, name, fp);
            if (rc != 0)
                status =
                    conn_fail(c, SSFTP_FAIL, "%s: %s", file, strerror(-rc));
            else
                fprintf(stderr, "ssftp: %s added to %s (%s)\n", shown, file,
                        fp);
        } else {
            status = conn_fail(
                c, SSFTP_AUTH,
                "%s is not a known server (its key is %s).  Check that "
                "fingerprint with the server's admin (ssftpd fingerprint), "
                "then run again with --host-key %s, or --accept-new-host-key",
                shown, fp, fp);
        }
    }
    free(safe);
    return status;
}
