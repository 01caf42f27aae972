/* ledger.h -- one user's quota counts on disk, shared by every process.
 *
 * Two ssftpd processes on one data root (--isolation process, several
 * instances behind SO_REUSEPORT, or hosts sharing a POSIX filesystem) must
 * agree on what a user holds, or each would let the user fill the quota
 * once.  So the counts live in a small file per user, <root>/ledger/NAME
 * (userdb_ledger_open()), read and changed only under an fcntl() lock.
 *
 * The file holds the user's bytes and entries on disk, the time of the
 * last count of the home, and a dirty mark; then a table of slots, one per
 * process that has the account open, each with the bytes that process has
 * promised to uploads in progress.  The promises of all processes are the
 * sum of the slots (never a separate total, which a process dying between
 * two writes could leave wrong).  A process holds a lock on its slot's own
 * byte (past the end of the file) for as long as it has the slot.  Locks
 * die with their process, so a slot still marked in use whose byte nobody
 * holds belongs to a process that died.  An upload's bytes are counted at
 * its end, so what that process promised may be on disk already: its
 * promise moves to the bytes used (the safe side), and since it may also
 * have died between changing the disk and the counts, the ledger is marked
 * dirty, to be counted again (quota.c) once no other process has the
 * account open.
 *
 * Locks are open file description locks (F_OFD_SETLKW): per open file, not
 * per process, so two threads of one process must not share a struct
 * ledger without a mutex of their own (quota.c holds one).  A child forked
 * while its parent has a ledger open shares that open file and so its
 * locks, and would keep the parent's slot alive: fork before opening
 * ledgers (ssftpd's process isolation forks sessions from a parent that
 * never opens one; each child opens its own).  On NFSv4 locks are leases
 * held by the client host, released when it stops renewing them.
 *
 * Numbers are stored little-endian, so hosts of either byte order can share
 * a root.
 */
#ifndef SSFTP_LEDGER_H
#define SSFTP_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

/* Processes that can hold one user's account at once. */
#define LEDGER_SLOTS 4096

struct ledger;

/* The shared counts, as read under the lock. */
struct ledger_state {
    uint64_t bytes;    /* st_size of the regular files, partials included */
    uint64_t entries;  /* names in the home */
    uint64_t reserved; /* bytes promised to uploads, every process */
    int64_t counted;   /* when the home was last counted (epoch s), or 0 */
    bool dirty;        /* the counts may be wrong: count the home again */
};

/* Takes over fd (the ledger file, O_RDWR; closed on failure too).  No I/O:
 * the first ledger_begin() reads it, and ledger_claim() takes a slot.  A
 * new, empty or unreadable file reads as dirty, with zero counts. */
int ledger_open(int fd, struct ledger **out);
/* Gives the slot back (its promises with it), if one was claimed, and
 * closes. */
void ledger_close(struct ledger *l);

/* Locks the ledger and reads it into *st.  Every ledger_begin() is paired
 * with one ledger_end(). */
int ledger_begin(struct ledger *l, struct ledger_state *st);
/* Writes *st back (NULL: unchanged) and unlocks.  A change of st->reserved
 * is this process's promise and is kept in its slot too. */
int ledger_end(struct ledger *l, const struct ledger_state *st);

/* Between begin and end: takes back the slots of dead processes (into *st)
 * and counts the live ones of other processes into *others. */
int ledger_reap(struct ledger *l, struct ledger_state *st, unsigned *others);
/* Between begin and end, after ledger_reap() (so dead processes' slots are
 * free again): takes this process's slot, once; 0 if it has one already,
 * -EUSERS when LEDGER_SLOTS processes hold the account. */
int ledger_claim(struct ledger *l);

#endif
