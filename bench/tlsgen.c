/* bench/loadgen.c over TLS: the same generator, every client a TLS 1.2+ client (OpenSSL).
 *
 * It is loadgen.c itself, compiled with its socket calls routed through OpenSSL: connect()
 * connects and shakes hands blocking, the socket put back to non-blocking after (loadgen's
 * own connects do not block; its "connect in flight" then completes at once), send() is SSL_write and recv() reads every whole record there is, so no
 * decrypted byte waits inside OpenSSL for an epoll event that will not come (read-ahead is
 * off: what OpenSSL has not read stays in the kernel and keeps the socket readable).
 * Certificates are not verified: the bench measures the cost of the encryption, and
 * verification is a client's cost at connect time only.
 *
 * Build: cc -O2 -o bench/build/tlsgen bench/tlsgen.c -lssl -lcrypto (make bench does it
 * when libssl-dev is installed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

#define MAX_FDS 65536
#define CAN_DISCARD 0 /* every byte must be decrypted: every receiver reads */

static SSL_CTX *tls_ctx;
static SSL *tls_of[MAX_FDS];

static int tls_handshake(int fd, const struct sockaddr *addr, socklen_t len);

static int tls_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int ret = tls_handshake(fd, addr, len);
    int saved = errno;
    fcntl(fd, F_SETFL, flags);
    errno = saved;
    return ret;
}

static int tls_handshake(int fd, const struct sockaddr *addr, socklen_t len) {
    if (connect(fd, addr, len) < 0)
        return -1;
    if (fd >= MAX_FDS) {
        errno = EMFILE;
        return -1;
    }
    if (tls_ctx == NULL) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    SSL *ssl = SSL_new(tls_ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "tlsgen: handshake failed: ");
        ERR_print_errors_fp(stderr);
        SSL_free(ssl);
        errno = ECONNREFUSED;
        return -1;
    }
    tls_of[fd] = ssl;
    return 0;
}

/* SSL's "would block" in either direction is EAGAIN: the loop retries the same bytes. */
static ssize_t tls_failed(SSL *ssl, int ret) {
    int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (err == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = ECONNRESET;
    return err == SSL_ERROR_SYSCALL && ret == 0 ? 0 : -1;
}

static ssize_t tls_send(int fd, const void *buf, size_t n) {
    SSL *ssl = tls_of[fd];
    int ret = SSL_write(ssl, buf, (int)(n > 1 << 30 ? 1 << 30 : n));
    return ret > 0 ? ret : tls_failed(ssl, ret);
}

static ssize_t tls_recv(int fd, void *buf, size_t n) {
    SSL *ssl = tls_of[fd];
    size_t got = 0;
    while (got < n) {
        int ret = SSL_read(ssl, (char *)buf + got, (int)(n - got > 1 << 30 ? 1 << 30 : n - got));
        if (ret > 0) {
            got += (size_t)ret;
            continue;
        }
        if (got)
            return (ssize_t)got; /* what came, first; the would-block or end comes next */
        return tls_failed(ssl, ret);
    }
    return (ssize_t)got;
}

#define connect(fd, addr, len) tls_connect(fd, addr, len)
#define send(fd, buf, n, flags) tls_send(fd, buf, n)
#define recv(fd, buf, n, flags) tls_recv(fd, buf, n)

#include "loadgen.c"
