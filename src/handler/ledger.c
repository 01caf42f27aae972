/* ledger.c -- the per-user quota ledger file and its fcntl locks (ledger.h). */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Header fields.  H_RESERVED is informative (for someone reading the file
 * with od): the promises are the sum of the slots, so a process that dies
 * between two writes cannot leave a total that disagrees with them. */
enum {
    H_BYTES = 8,
    H_ENTRIES = 16,
    H_RESERVED = 24,
    H_COUNTED = 32,
    H_FLAGS = 40,
    H_NSLOTS = 48
};
/* Slots read at a time. */
#define SLOT_BATCH 64
#define FLAG_DIRTY 1u

struct ledger {
    int fd;
    uint32_t slot;           /* ours */
    uint64_t nslots;         /* slots in the file, as of the last read */
    uint64_t mine;           /* the bytes our slot has promised */
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
    struct flock fl = {
        .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
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

/* The slots in a file whose header cannot be trusted: as many as its size
 * holds, so the live ones are still found and probed. */
static uint64_t slots_in_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= HEADER_BYTES)
        return 0;
    uint64_t n = ((uint64_t)st.st_size - HEADER_BYTES) / SLOT_BYTES;
    return n > LEDGER_SLOTS ? LEDGER_SLOTS : n;
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
        l->nslots = slots_in_file(l->fd);
        return 0;
    }
    st->bytes = get64(h + H_BYTES);
    st->entries = get64(h + H_ENTRIES);
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

static int write_slot(struct ledger *l, uint64_t i, bool used, uint64_t res)
{
    unsigned char b[SLOT_BYTES];
    put64(b, used ? 1 : 0);
    put64(b + 8, used ? res : 0);
    return proto_pwrite_all(l->fd, b, sizeof b, slot_at(i));
}

/* Calls fn for each slot in use (i, promised bytes), in batches; a slot
 * past the end of the file reads as free.  Stops at fn's first nonzero. */
static int each_used_slot(struct ledger *l,
                          int (*fn)(struct ledger *l, uint64_t i, uint64_t res,
                                    void *ctx),
                          void *ctx)
{
    unsigned char b[SLOT_BATCH * SLOT_BYTES];
    for (uint64_t first = 0; first < l->nslots; first += SLOT_BATCH) {
        uint64_t k =
            l->nslots - first < SLOT_BATCH ? l->nslots - first : SLOT_BATCH;
        ssize_t n =
            proto_pread_full(l->fd, b, (size_t)k * SLOT_BYTES, slot_at(first));
        if (n < 0)
            return (int)n;
        for (uint64_t j = 0; j < k && (j + 1) * SLOT_BYTES <= (size_t)n; j++) {
            const unsigned char *e = b + j * SLOT_BYTES;
            if (get64(e) == 0)
                continue;
            int rc = fn(l, first + j, get64(e + 8), ctx);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static uint64_t minus(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t plus(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int add_promise(struct ledger *l, uint64_t i, uint64_t res, void *ctx)
{
    uint64_t *sum = ctx;
    *sum = plus(*sum, i == l->slot ? l->mine : res);
    return 0;
}

struct reap {
    struct ledger_state *st;
    unsigned others;
};

static int reap_one(struct ledger *l, uint64_t i, uint64_t res, void *ctx)
{
    struct reap *r = ctx;
    if (i == l->slot)
        return 0;
    short held;
    int rc =
        lock_byte(l->fd, F_OFD_GETLK, F_WRLCK, LOCK_SLOTS + (off_t)i, &held);
    if (rc != 0)
        return rc;
    if (held != F_UNLCK) {
        r->others++;
        return 0;
    }
    /* Its owner died.  What it promised may already be on disk (an upload
     * counts its bytes only at its end): count it as used, the safe side,
     * until the home is counted again. */
    rc = write_slot(l, i, false, 0);
    if (rc != 0)
        return rc;
    r->st->reserved = minus(r->st->reserved, res);
    r->st->bytes = plus(r->st->bytes, res);
    l->begin_reserved = minus(l->begin_reserved, res); /* not ours */
    r->st->dirty = true;
    return 0;
}

int ledger_reap(struct ledger *l, struct ledger_state *st, unsigned *others)
{
    struct reap r = {.st = st};
    int rc = each_used_slot(l, reap_one, &r);
    *others = r.others;
    return rc;
}

static int unlock_ledger(struct ledger *l)
{
    return lock_byte(l->fd, F_OFD_SETLK, F_UNLCK, LOCK_LEDGER, NULL);
}

int ledger_begin(struct ledger *l, struct ledger_state *st)
{
    int rc = lock_byte(l->fd, F_OFD_SETLKW, F_WRLCK, LOCK_LEDGER, NULL);
    if (rc != 0)
        return rc;
    rc = read_header(l, st);
    uint64_t sum = 0;
    if (rc == 0)
        rc = each_used_slot(l, add_promise, &sum);
    if (rc != 0) {
        (void)unlock_ledger(l);
        return rc;
    }
    st->reserved = sum;
    l->begin_reserved = sum;
    return 0;
}

int ledger_end(struct ledger *l, const struct ledger_state *st)
{
    int rc = 0;
    if (st != NULL) {
        /* What we promised or took back ourselves is in our slot. */
        uint64_t mine = st->reserved >= l->begin_reserved
                            ? plus(l->mine, st->reserved - l->begin_reserved)
                            : minus(l->mine, l->begin_reserved - st->reserved);
        if (mine != l->mine)
            rc = write_slot(l, l->slot, true, mine);
        if (rc == 0)
            rc = write_header(l, st);
        if (rc == 0)
            l->mine = mine;
    }
    int un = unlock_ledger(l);
    return rc != 0 ? rc : un;
}

/* Under the ledger lock, after a reap: the first free slot, taken and
 * locked. */
static int take_slot(struct ledger *l)
{
    for (uint64_t i = 0; i < LEDGER_SLOTS; i++) {
        unsigned char b[SLOT_BYTES];
        ssize_t n = i < l->nslots
                        ? proto_pread_full(l->fd, b, sizeof b, slot_at(i))
                        : 0;
        if (n < 0)
            return (int)n;
        if ((size_t)n == sizeof b && get64(b) != 0)
            continue;
        /* Free in the file; its byte may still be held for a moment by a
         * process between giving the slot back and closing the file. */
        int rc =
            lock_byte(l->fd, F_OFD_SETLK, F_WRLCK, LOCK_SLOTS + (off_t)i, NULL);
        if (rc == -EAGAIN)
            continue;
        if (rc != 0)
            return rc;
        l->slot = (uint32_t)i;
        if (i >= l->nslots)
            l->nslots = i + 1;
        return write_slot(l, i, true, 0);
    }
    return -EUSERS;
}

int ledger_open(int fd, struct ledger **out)
{
    struct ledger *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        return -ENOMEM;
    }
    l->fd = fd;
    l->slot = UINT32_MAX; /* none yet: ledger_reap() looks at every slot */
    *out = l;
    return 0;
}

int ledger_claim(struct ledger *l)
{
    return l->slot != UINT32_MAX ? 0 : take_slot(l);
}

void ledger_close(struct ledger *l)
{
    if (l == NULL)
        return;
    struct ledger_state st;
    if (l->slot != UINT32_MAX && ledger_begin(l, &st) == 0) {
        st.reserved = minus(st.reserved, l->mine);
        if (write_slot(l, l->slot, false, 0) == 0)
            (void)write_header(l, &st);
        /* The slot's byte goes before the ledger lock, so whoever next
         * sees the slot free can take it. */
        (void)lock_byte(l->fd, F_OFD_SETLK, F_UNLCK,
                        LOCK_SLOTS + (off_t)l->slot, NULL);
        (void)unlock_ledger(l);
    }
    close(l->fd); /* drops our locks, whatever failed above */
    free(l);
}
