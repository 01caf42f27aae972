/* fuzz_tls.c -- libFuzzer: what reaches ssftpd through TLS.
 *
 * ssftpd reads every frame through proto_recv() on a connection with a TLS
 * session attached; this harness feeds that reader from the network side.
 * The first input byte picks what the peer does, the second how it cuts
 * its writes, the third whether it ends with close_notify (mode 1) or
 * just goes; the rest is its bytes:
 *   0  sends them raw before any handshake (a hostile ClientHello);
 *   1  completes a real handshake and sends them as application data, in
 *      records of 64 to 16 384 bytes (frames split across records);
 *   2  completes a handshake, then writes them raw onto the socket (forged
 *      or damaged records from someone on the path);
 *   3  sends the first half inside TLS and the rest raw.
 * After the handshake the client encrypts into memory and the whole stream
 * goes onto the socket in one write, as fuzz_stream() does: a thousand
 * small records sent one by one would fill a socket buffer of a stock
 * kernel (net.core.wmem_max) and wait for a reader that is this thread.
 * Then the server reads up to 64 frames.  All the input is there and the
 * peer has gone, so nothing may wait (-ETIMEDOUT aborts), and every frame
 * read is probed as handlers would. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzzstack.h"
#include "proto.h"

static SSL_CTX *server_ctx, *client_ctx;

int fuzz_setup(void)
{
    char dir[] = "/tmp/fuzz-tls-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    char key[64], cert[64], err[256];
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    int rc = proto_tls_make_self_signed(key, cert, "fuzz");
    if (rc == 0)
        rc = proto_tls_server_ctx(cert, key, &server_ctx, err, sizeof err);
    if (rc == 0)
        rc = proto_tls_client_ctx(&client_ctx);
    (void)unlink(key);
    (void)unlink(cert);
    (void)rmdir(dir);
    return rc == 0 ? 0 : -1;
}

/* Both ends' handshakes in turn on this thread: the BIO never blocks, so
 * each end takes what has arrived and says -EAGAIN for the rest. */
static void handshake(proto_io *srv, proto_io *cli)
{
    for (int turn = 0; turn < 16; turn++) {
        int a = proto_tls_handshake(cli, false);
        int b = proto_tls_handshake(srv, false);
        if (a == 0 && b == 0)
            return;
        if ((a != 0 && a != -EAGAIN) || (b != 0 && b != -EAGAIN))
            abort(); /* our own two ends must agree */
    }
    abort();
}

static void write_raw(int fd, const uint8_t *p, size_t n)
{
    if (n > 0 && write(fd, p, n) != (ssize_t)n)
        abort(); /* the buffers hold it (fuzz_pair()) */
}

/* The client's records of n bytes (of record bytes each) and, if notify,
 * its close_notify: in memory (the session's BIO from now on), returned. */
static BIO *seal(proto_io *cli, const uint8_t *p, size_t n, size_t record,
                 bool notify)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        abort();
    SSL_set0_wbio(cli->tls, mem); /* the session owns it */
    for (size_t off = 0; off < n; off += record) {
        size_t k = n - off < record ? n - off : record, done = 0;
        if (SSL_write_ex(cli->tls, p + off, k, &done) != 1 || done != k)
            abort();
    }
    if (notify && SSL_shutdown(cli->tls) < 0)
        abort();
    return mem;
}

static void one(const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    int mode = data[0] % 4;
    size_t record = 64 + (size_t)data[1] * 64;
    bool notify = data[2] & 1;
    data += 3;
    size -= 3;
    int sv[2];
    fuzz_pair(sv);
    proto_io srv = {.fd = sv[0], .timeout_ms = 1000, .body_timeout_ms = 1000};
    proto_io cli = {.fd = sv[1], .timeout_ms = 1000, .body_timeout_ms = 1000};
    if (proto_tls_attach(&srv, server_ctx, true, NULL) != 0)
        abort();
    bool up = true;
    if (mode == 0) {
        write_raw(sv[1], data, size);
        close(sv[1]);
        int rc = proto_tls_handshake(&srv, true);
        if (rc == -ETIMEDOUT)
            abort();
        up = rc == 0;
    } else {
        if (proto_tls_attach(&cli, client_ctx, false, NULL) != 0)
            abort();
        handshake(&srv, &cli);
        size_t inside = mode == 1 ? size : mode == 2 ? 0 : size / 2;
        BIO *mem = seal(&cli, data, inside, record, notify && mode == 1);
        char *sealed;
        long n = BIO_get_mem_data(mem, &sealed);
        write_raw(sv[1], (const uint8_t *)sealed, n > 0 ? (size_t)n : 0);
        write_raw(sv[1], data + inside, size - inside);
        proto_tls_detach(&cli); /* a close_notify now goes to memory */
        close(sv[1]);
    }
    if (up)
        fuzz_recv_frames(&srv);
    proto_tls_detach(&srv);
    close(sv[0]);
}

FUZZ_HARNESS(one)
