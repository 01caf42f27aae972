/* fuzzstack.c -- run a fuzz input on a worker-sized stack (fuzzstack.h). */
#include "fuzzstack.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

struct job {
    fuzz_fn fn;
    const uint8_t *data;
    size_t size;
};

static void *run(void *p)
{
    struct job *j = p;
    j->fn(j->data, j->size);
    return NULL;
}

void fuzz_on_worker_stack(fuzz_fn fn, const uint8_t *data, size_t size)
{
    struct job j = {fn, data, size};
    pthread_attr_t at;
    pthread_t t;
    /* Exactly the worker's stack: the recursion that matters is jansson's,
     * which is not built with the sanitizers, so its frames are the size
     * they have in the server. */
    if (pthread_attr_init(&at) != 0 ||
        pthread_attr_setstacksize(&at, PROTO_WORKER_STACK) != 0 ||
        pthread_create(&t, &at, run, &j) != 0)
        abort();
    pthread_attr_destroy(&at);
    if (pthread_join(t, NULL) != 0)
        abort();
}

void fuzz_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    int sz = 4 * PROTO_HEADER_MAX;
    for (int i = 0; i < 2; i++) {
        (void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
}

int fuzz_stream(const uint8_t *data, size_t n, bool framed)
{
    int sv[2];
    fuzz_pair(sv);
    uint8_t len[4];
    proto_be32_put(len, (uint32_t)n);
    if (framed && write(sv[1], len, 4) != 4)
        abort();
    if (n > 0 && write(sv[1], data, n) != (ssize_t)n)
        abort(); /* the pair buffers the fuzzer's -max_len */
    close(sv[1]);
    return sv[0];
}

/* Every getter on every top-level key, as handlers probe requests. */
static void probe_fields(const json_t *h)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)h, key, v)
    {
        const char *s;
        int64_t i;
        uint64_t u;
        bool b;
        uint8_t bin[64];
        (void)proto_has(h, key);
        if (proto_get_str(h, key, &s) == 0 && strlen(s) > PROTO_HEADER_MAX)
            abort();
        (void)proto_get_i64(h, key, &i);
        (void)proto_get_u64(h, key, &u);
        (void)proto_get_bool(h, key, &b);
        for (size_t n = 16; n <= 64; n *= 2) {
            (void)proto_get_hex(h, key, bin, n);
            (void)proto_get_b64(h, key, bin, n);
        }
    }
}

void fuzz_recv_frames(proto_io *io)
{
    for (int frames = 0; frames < 64; frames++) {
        json_t *h = NULL;
        int rc = proto_recv(io, &h);
        if (rc != 0) {
            if (h != NULL || rc == -ETIMEDOUT)
                abort(); /* all input is there: nothing may wait */
            return;
        }
        if (!json_is_object(h))
            abort();
        probe_fields(h);
        json_decref(h);
    }
}
