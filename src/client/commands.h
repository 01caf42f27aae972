/* commands.h -- the ssftp commands (ls, cd, put, ...), shared by the
 * one-shot, batch and interactive modes.
 */
#ifndef SSFTP_CLIENT_COMMANDS_H
#define SSFTP_CLIENT_COMMANDS_H

#include <stdbool.h>

#include "conn.h"

typedef struct cmd_opts {
    bool progress;   /* draw progress bars */
    bool quit;       /* set by "quit": the caller stops reading commands */
    int keepalive_s; /* the shell: a no-op this often while idle (0: none) */
    /* Where to reconnect after the connection broke (NULL: never). */
    const conn_target *target;
} cmd_opts;

/* Run argv[0] with its arguments.  Output goes to stdout; a failure leaves
 * one line in c->err.  Returns an SS_* status (SSFTP_USAGE for an unknown
 * command or wrong argument count). */
int cmd_run(client_conn *c, int argc, char **argv, cmd_opts *o);

/* "!COMMAND": command run by /bin/sh -c in the local directory, waited
 * for; a non-zero exit status or a signal is a failure saying which. */
int cmd_shell(client_conn *c, const char *command);

/* Tab completion (shell.c).  cmd_complete_name() is a readline generator
 * of the command names and aliases that start with text. */
char *cmd_complete_name(const char *text, int state);

/* Whether operand (1 for the first after the command and its -flags) of
 * cmd names a remote path, a local one, or neither. */
enum cmd_side { CMD_NONE, CMD_REMOTE, CMD_LOCAL };
enum cmd_side cmd_operand_side(const char *cmd, int operand);

/* The remote names that start with text (its directory listed on the
 * server), each with text's directory part and a '/' after a directory's:
 * a JSON array of strings, or NULL when the listing failed. */
json_t *cmd_remote_names(client_conn *c, const char *text);

/* The command list, for "help" and usage. */
void cmd_help(FILE *out);

#endif
