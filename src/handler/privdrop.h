/* privdrop.h -- ssftpd --user NAME: started as root, the server binds its
 * listening sockets and loads its keys, then becomes NAME for good. */
#ifndef SSFTP_HANDLER_PRIVDROP_H
#define SSFTP_HANDLER_PRIVDROP_H

/* Becomes the user name (its groups from initgroups(), its primary group,
 * then its uid), and checks that root cannot be had back.  Needs root,
 * unless the process is that user already (then it does nothing).
 * Returns 0, or -errno after saying why on stderr. */
int privdrop_to(const char *name);

#endif
