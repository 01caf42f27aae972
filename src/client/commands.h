/* commands.h -- the ssftp commands (ls, cd, put, ...), shared by the
 * one-shot, batch and interactive modes.
 */
#ifndef SSFTP_CLIENT_COMMANDS_H
#define SSFTP_CLIENT_COMMANDS_H

#include <stdbool.h>

#include "conn.h"

typedef struct cmd_opts {
    bool progress; /* draw progress bars */
    bool quit;     /* set by "quit": the caller stops reading commands */
} cmd_opts;

/* Run argv[0] with its arguments.  Output goes to stdout; a failure leaves
 * one line in c->err.  Returns an SS_* status (SSFTP_USAGE for an unknown
 * command or wrong argument count). */
int cmd_run(client_conn *c, int argc, char **argv, cmd_opts *o);

/* "!COMMAND": command run by /bin/sh -c in the local directory, waited
 * for; a non-zero exit status or a signal is a failure saying which. */
int cmd_shell(client_conn *c, const char *command);

/* The command list, for "help" and usage. */
void cmd_help(FILE *out);

#endif
