/* shell.h -- reading commands: the interactive shell (libedit) and batch
 * mode (one command per line from stdin or -b FILE, stopping at the first
 * failure that is not allowed).
 */
#ifndef SSFTP_CLIENT_SHELL_H
#define SSFTP_CLIENT_SHELL_H

#include "commands.h"
#include "conn.h"

/* Split line into words in place: blanks separate, '...' and "..." quote,
 * a backslash escapes the next character.  Returns the word count (at most
 * max), or -EINVAL for an unterminated quote or too many words. */
int shell_split(char *line, char **argv, int max);

/* Interactive: prompt "user@host:/cwd> ", line editing and history (kept
 * in config_file("history"), 0600, across sessions), errors
 * printed and the session carried on.  Returns the exit status (SSFTP_OK, or
 * SSFTP_CONN if the connection broke). */
int shell_interactive(client_conn *c, cmd_opts *o);

/* Batch: commands from in (stdin, or -b FILE) until end of input, quit, or
 * the first failure, whose status is returned after one "ssftp: line N: ..."
 * line.  A line starting with '-' may fail: its failure is said the same
 * way and the batch goes on (unless the connection broke). */
int shell_batch(client_conn *c, cmd_opts *o, FILE *in);

#endif
