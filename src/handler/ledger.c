/* ledger.c -- the per-user quota ledger file and its fcntl locks (ledger.h). */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

/* The file: a header, then the slots.  Locks: byte LOCK_LEDGER guards the
 * whole file; byte LOCK_SLOTS + i is held by the owner of slot i.  Both lie
 * far past any data, so no read or write ever meets them. */
#define MAGIC "SSQUOTA1"
#define HEADER_BYTES 64
#define SLOT_BYTES 16
#define LOCK_LEDGER ((off_t)1 << 40)
#define LOCK_SLOTS (LOCK_LEDGER + 1)

enum { H_BYTES = 8, H_ENTRIES = 16, H_RESERVED = 24, H_COUNTED = 32,
       H_FLAGS = 40, H_NSLOTS = 48 };
#define FLAG_DIRTY 1u

struct ledger {
    int fd;
    uint32_t slot;          /* ours */
    uint64_t nslots;        /* slots in the file, as of the last read */
    uint64_t mine;          /* the bytes our slot has promised */
    uint64_t begin_reserved; /* st->reserved as ledger_begin() read it */
};

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t slot_at(uint64_t i)
{
    return HEADER_BYTES + i * SLOT_BYTES;
}

/* F_OFD_SETLKW / F_OFD_SETLK / F_OFD_GETLK on one byte. */
static int lock_byte(int fd, int cmd, short type, off_t at, short *held)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at,
                       .l_len = 1};
    int rc;
    do
        rc = fcntl(fd, cmd, &fl);
    while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return errno == EAGAIN || errno == EACCES ? -EAGAIN : -errno;
    if (held != NULL)
        *held = fl.l_type;
    return 0;
}

static int read_header(struct ledger *l, struct ledger_state *st)
{
    unsigned char h[HEADER_BYTES];
    ssize_t n = proto_pread_full(l->fd, h, sizeof h, 0);
    if (n < 0)
        return (int)n;
    *st = (struct ledger_state){0};
    if ((size_t)n < sizeof h || memcmp(h, MAGIC, 8) != 0 ||
        get64(h + H_NSLOTS) > LEDGER_SLOTS) {
        /* New, or not ours to trust: count the home again. */
        st->dirty = true;
        l->nslots = 0;
        return 0;
    }
    st->bytes = get64(h + H_BYTES);
    st->entries = get64(h + H_ENTRIES);
    st->reserved = get64(h + H_RESERVED);
    st->counted = (int64_t)get64(h + H_COUNTED);
    st->dirty = (get64(h + H_FLAGS) & FLAG_DIRTY) != 0;
    l->nslots = get64(h + H_NSLOTS);
    return 0;
}

static int write_header(struct ledger *l, const struct ledger_state *st)
{
    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, MAGIC, 8);
    put64(h + H_BYTES, st->bytes);
    put64(h + H_ENTRIES, st->entries);
    put64(h + H_RESERVED, st->reserved);
    put64(h + H_COUNTED, (uint64_t)st->counted);
    put64(h + H_FLAGS, st->dirty ? FLAG_DIRTY : 0);
    put64(h + H_NSLOTS, l->nslots);
    return proto_pwrite_all(l->fd, h, sizeof h, 0);
}

/* Slot i: in use?  promised bytes?  A slot past the end reads as free. */
static int read_slot(struct ledger *l, uint64_t i, bool *used, uint64_t *res)
{
    unsigned char b[SLOT_BYTES];
    ssize_t n = proto_pread_full(l->fd, b, sizeof b, slot_at(i));
    if (n < 0)
        return (int)n;
    *used = (size_t)n == sizeof b && get64(b) != 0;
    *res = *used ? get64(b + 8) : 0;
    return 0;
}

static int write_slot(struct ledger *l, uint64_t i, bool used, uint64_t res)
{
    unsigned char b[SLOT_BYTES];
    put64(b, used ? 1 : 0);
    put64(b + 8, used ? res : 0);
    return proto_pwrite_all(l->fd, b, sizeof b, slot_at(i));
}

static uint64_t minus(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

int ledger_reap(struct ledger *l, struct ledger_state *st, unsigned *others)
{
    *others = 0;
    for (uint64_t i = 0; i < l->nslots; i++) {
        bool used;
        uint64_t res;
        short held;
        int rc = i == l->slot ? 0 : read_slot(l, i, &used, &res);
        if (rc == 0 && i != l->slot && used)
            rc = lock_byte(l->fd, F_OFD_GETLK, F_WRLCK, LOCK_SLOTS + (off_t)i,
                           &held);
        if (rc != 0)
            return rc;
        if (i == l->slot || !used)
            continue;
        if (held != F_UNLCK) {
            (*others)++;
            continue;
        }
        /* Its owner died: take its promise back; the disk may have moved
         * past the counts. */
        rc = write_slot(l, i, false, 0);
        if (rc != 0)
            return rc;
        st->reserved = minus(st->reserved, res);
        l->begin_reserved = minus(l->begin_reserved, res); /* not ours */
        st->dirty = true;
    }
    return 0;
}

int ledger_begin(struct ledger *l, struct ledger_state *st)
{
    int rc = lock_byte(l->fd, F_OFD_SETLKW, F_WRLCK, LOCK_LEDGER, NULL);
    if (rc != 0)
        return rc;
    rc = read_header(l, st);
    if (rc != 0) {
        (void)lock_byte(l->fd, F_OFD_SETLK, F_UNLCK, LOCK_LEDGER, NULL);
        return rc;
    }
    l->begin_reserved = st->reserved;
    return 0;
}

int ledger_end(struct ledger *l, const struct ledger_state *st)
{
    int rc = 0;
    if (st != NULL) {
        /* What we promised or took back ourselves goes into our slot too. */
        uint64_t mine = st->reserved >= l->begin_reserved
                            ? l->mine + (st->reserved - l->begin_reserved)
                            : minus(l->mine, l->begin_reserved - st->reserved);
        rc = write_slot(l, l->slot, true, mine);
        if (rc == 0)
            rc = write_header(l, st);
        if (rc == 0)
            l->mine = mine;
    }
    int un = lock_byte(l->fd, F_OFD_SETLK, F_UNLCK, LOCK_LEDGER, NULL);
    return rc != 0 ? rc : un;
}

/* Under the ledger lock: the first free slot, taken and locked. */
static int take_slot(struct ledger *l)
{
    for (uint64_t i = 0; i < LEDGER_SLOTS; i++) {
        bool used = false;
        uint64_t res;
        int rc = i < l->nslots ? read_slot(l, i, &used, &res) : 0;
        if (rc != 0)
            return rc;
        if (used)
            continue;
        /* Free in the file, so no live process holds its byte (slots are
         * only taken and given back under the ledger lock). */
        rc = lock_byte(l->fd, F_OFD_SETLK, F_WRLCK, LOCK_SLOTS + (off_t)i,
                       NULL);
        if (rc != 0)
            return rc;
        l->slot = (uint32_t)i;
        if (i >= l->nslots)
            l->nslots = i + 1;
        return write_slot(l, i, true, 0);
    }
    return -EUSERS;
}

int ledger_open(int fd, struct ledger **out, unsigned *others)
{
    struct ledger *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        return -ENOMEM;
    }
    l->fd = fd;
    l->slot = UINT32_MAX; /* none yet: ledger_reap() looks at every slot */
    struct ledger_state st;
    int rc = ledger_begin(l, &st);
    if (rc == 0) {
        rc = ledger_reap(l, &st, others);
        if (rc == 0)
            rc = take_slot(l);
        int end = ledger_end(l, rc == 0 ? &st : NULL);
        if (rc == 0)
            rc = end;
    }
    if (rc != 0) {
        close(fd);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void ledger_close(struct ledger *l)
{
    if (l == NULL)
        return;
    struct ledger_state st;
    if (ledger_begin(l, &st) == 0) {
        st.reserved = minus(st.reserved, l->mine);
        l->begin_reserved = st.reserved; /* our slot is cleared below */
        if (write_slot(l, l->slot, false, 0) == 0)
            (void)write_header(l, &st);
        (void)ledger_end(l, NULL);
    }
    close(l->fd); /* drops our slot's lock */
    free(l);
}
