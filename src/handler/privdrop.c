/* privdrop.c -- becoming --user NAME for good (privdrop.h). */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int privdrop_to(const char *name)
{
    struct passwd pw, *found = NULL;
    long cap = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t len = cap > 0 ? (size_t)cap : 16384;
    char *buf = malloc(len);
    int rc = buf == NULL ? ENOMEM : getpwnam_r(name, &pw, buf, len, &found);
    if (rc != 0 || found == NULL) {
        log_msg(LOG_LEVEL_ERROR, "--user %s: %s", name,
                rc != 0 ? strerror(rc) : "no such user");
        free(buf);
        return rc != 0 ? -rc : -ENOENT;
    }
    const char *step = NULL;
    if (geteuid() == pw.pw_uid && getuid() == pw.pw_uid && pw.pw_uid != 0) {
        /* Started as NAME already (systemd's User=, say): nothing to do. */
        free(buf);
        return 0;
    }
    if (geteuid() != 0)
        rc = EPERM, step = "only root can change user";
    else if (pw.pw_uid == 0)
        rc = EINVAL, step = "that is root";
    else if (initgroups(pw.pw_name, pw.pw_gid) != 0)
        rc = errno, step = "initgroups";
    else if (setgid(pw.pw_gid) != 0)
        rc = errno, step = "setgid";
    else if (setuid(pw.pw_uid) != 0)
        rc = errno, step = "setuid";
    /* The saved ids went with setuid() as root: there is no way back. */
    else if (setuid(0) == 0 || seteuid(0) == 0 ||
             (pw.pw_gid != 0 && setegid(0) == 0))
        rc = EPERM, step = "root could be had back";
    if (rc != 0)
        log_msg(LOG_LEVEL_ERROR, "--user %s: %s: %s", name, step, strerror(rc));
    else
        log_msg(LOG_LEVEL_NOTICE, "running as %s (uid %u, gid %u)", name,
                (unsigned)pw.pw_uid, (unsigned)pw.pw_gid);
    free(buf);
    return -rc;
}
