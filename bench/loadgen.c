/* The load generator of the benchmark's throughput scenarios, in C so that it is never what
 * saturates first.  It does what bench/generator.py does (which stays as the fallback):
 *
 * connect N clients, --connect-batch (128) in flight at a time, each sending its hello once
 * connected and counting as in flight until the server's first byte; wait until every one has
 * seen its ready marker, then until nothing has arrived for 0.3 s; then, for --duration
 * seconds, the first S members of each room send batches of W/2 stamped lines while the
 * room's lines in flight (sent x receivers - delivered) stay under W x S x receivers; then
 * drain.  A line is PREFIX "@@" <19-digit CLOCK_MONOTONIC ns> " the quick brown fox..."
 * SUFFIX; receivers count "@@" in what they read and take one latency sample per read
 * from its last complete stamp.  Clients are split into --rooms contiguous blocks.
 *
 * Most receivers do not read what they get: with --sample-every K (8 by default) one
 * receiver in K of each room (its last reader among them) reads, counts and takes latency samples as above, and the
 * others discard their bytes in the kernel (recv with MSG_TRUNC: nothing is copied to the
 * generator) and count bytes.  A delivery is a fixed number of bytes for one sender and one
 * receiver (the stamp has a fixed width), so before the load every sender says one line on
 * its own and every receiver notes the bytes it got from it; after the drain, a discarding
 * receiver whose bytes are exactly sum(lines sent x bytes per line) got every line, and one
 * whose bytes differ is reported in "byte_mismatch" and counted short.  The discarding
 * receivers are not woken by epoll: every SWEEP_NS one recv each drops what they hold, and
 * the window is read from the receivers that read (they are read at once).  Copying what
 * arrives costs the generator about as much as sending it costs the server; discarding
 * takes that cost out of the measurement.  --sample-every 1 reads everything, as does the
 * TLS build (its bytes must be decrypted).
 *
 * The loop blocks in epoll_wait whenever it has nothing to do, so the CPU share it reports
 * (getrusage over the load and the drain) is the work it did, not a spin.  One JSON line
 * of results goes to standard output.
 *
 * `loadgen --self-test` checks the counting and the stamps on fixed cases.
 *
 * Templates (--hello, --ready, --prefix, --suffix) may hold {i}, the client's index, and
 * {r}, its room's name: "bench" with one room, r0, r1, ... with several.  --alt-every K
 * gives every K-th client (index K-1, 2K-1, ...) a second dialect, --alt-hello and the
 * rest, and a second port, --alt-port: half line and half IRC clients in one room with
 * K = 2.  --pong (--alt-pong) makes
 * those clients answer a server's "PING :token" line with "PONG :token", as IRC clients
 * must; it is sent only between two of a sender's batches, never inside one.
 *
 * --idle connects the clients and waits until they are ready and quiet, lets the server
 * settle for --settle seconds, reads its RSS, and has client 0 send one stamped line that
 * every other client must receive: the idle scenario's figures.  Connecting stops at the
 * first failure there (a peer that gives up is a finding, not an error).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (1 << 18)
#define STAMP 19
#define FILLER " the quick brown fox jumps over the lazy dog"
#define CONNECT_BATCH 128 /* connections in flight by default: chatd's accepts per event */
#define MAX_EVENTS 1024
#define MAX_PIDS 64
#define TAIL 128
#define SPIN 8 /* empty polls in a row before the load loop blocks */
#define PING_MAX 96 /* "PING :token" lines longer than this are not answered */
#define SAMPLE_EVERY 8 /* one receiver in this many reads what it gets; the others discard */
#define DISCARD_MAX (1 << 30) /* bytes one discarding recv may drop */
#define SWEEP_NS 1000000 /* how often the discarding receivers are emptied, at most */
#define SWEEP_MAX 16     /* a quiet receiver is swept every SWEEP_MAX-th sweep at least */
#define FEW_LINES 256   /* fewer in a recv: swept half as often */
#define MANY_LINES 2048 /* more: twice as often */
#ifndef CAN_DISCARD
#define CAN_DISCARD 1 /* the TLS build cannot: its bytes must be decrypted */
#endif

struct conn {
    int fd, room, ready, silent, at_end, writing, closed;
    int alt, pong, at_line_start;       /* its dialect; answers PING; last read ended a line */
    int connecting;                     /* in flight: handshake, then until its first byte */
    char ping[PING_MAX];                /* a PING line cut by the end of a read */
    size_t ping_len;
    char reply[PING_MAX + 16];          /* a PONG waiting for a sender's batch to go out */
    size_t reply_len;
    char *marker; /* the ready marker, expanded */
    size_t marker_len;
    char tail[TAIL]; /* the end of what came before, while the marker is not seen */
    size_t tail_len;
    char *out, *line; /* a sender's pending batch, and its line with the stamp's place */
    size_t out_off, out_len, line_len, stamp_at;
    uint64_t lines_sent;                /* a sender's lines in the load */
    int discards;                       /* reads nothing: counts bytes (see the top) */
    uint64_t bytes, counted;            /* a discarding receiver's bytes and deliveries */
    uint32_t *line_bytes;               /* bytes of one line from its room's sender s */
    double per_line;                    /* their mean over the senders it hears */
    uint64_t probe_bytes, probe_marks;  /* what it got while one sender said one line */
    int probe_whole;                    /* and its last read ended a line */
    int swept;                          /* discards, and the load has begun: see sweep() */
    int pace, skip;                     /* swept every pace-th sweep; sweeps to sit out */
};

struct room {
    int first, count, senders, receivers;
    uint64_t sent, delivered;
    int samplers;                    /* its receivers that read (the others discard) */
    uint64_t sampled, samplers_own;  /* what they counted, and the lines they sent */
};

static struct conn *conns;
static struct room *rooms;
static int nconns, nrooms;
static int epfd;
static uint64_t delivered;
static int64_t last_progress;
static int64_t *samples;
static size_t nsamples, samples_cap;
static int counting; /* deliveries count only once the load starts */
static char readbuf[READ_SIZE];
static int connecting; /* connections in flight (connect_all) */
static int probing;    /* the senders' lines are measured one at a time */

struct dialect {
    const char *hello, *ready, *prefix, *suffix;
    int pong;
};

static struct {
    const char *host;
    struct dialect dialect[2]; /* the clients', and every alt_every-th client's */
    int port, alt_port, connect_batch, clients, rooms, senders, window, silent_last, npids, alt_every, idle;
    int sample_every;
    double duration, settle;
    int pids[MAX_PIDS];
} opt = {.host = "127.0.0.1",
         .dialect = {{"", "", "", "\n", 0}, {"", "", "", "\n", 0}},
         .connect_batch = CONNECT_BATCH, .rooms = 1, .senders = 10, .window = 16,
         .sample_every = SAMPLE_EVERY,
         .duration = 3.0, .settle = 1.5};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* Python's time.monotonic_ns() */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double seconds(int64_t ns) { return (double)ns / 1e9; }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("{\"error\": \"out of memory\"}\n", stdout);
        exit(1);
    }
    return p;
}

/* The JSON line of a run that could not be made; done < 0: not while connecting. */
static void fail(const char *what, int err, int done) {
    if (done < 0)
        printf("{\"error\": \"%s: %s\"}\n", what, strerror(err));
    else
        printf("{\"error\": \"%s: %s after %d clients\"}\n", what, strerror(err), done);
    exit(1);
}

static void room_name(int room, char *out, size_t size) {
    if (opt.rooms == 1)
        snprintf(out, size, "bench");
    else
        snprintf(out, size, "r%d", room);
}

/* template with {i} and {r} replaced; *len gets the length. */
static char *expand(const char *template, int index, int room, size_t *len) {
    char name[32], num[16];
    room_name(room, name, sizeof name);
    snprintf(num, sizeof num, "%d", index);
    size_t cap = strlen(template) * 4 + 64, n = 0;
    char *out = xmalloc(cap);
    for (const char *p = template; *p;) {
        const char *sub = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}' && (p[1] == 'i' || p[1] == 'r'))
            sub = p[1] == 'i' ? num : name;
        size_t add = sub ? strlen(sub) : 1;
        if (n + add + 1 > cap) {
            cap = (n + add + 1) * 2;
            out = realloc(out, cap);
            if (!out)
                fail("expand", ENOMEM, -1);
        }
        memcpy(out + n, sub ? sub : p, add);
        n += add;
        p += sub ? 3 : 1;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* Markers in data; after_at says the previous read ended in '@' (a marker cut in two). */
static uint64_t count_marks(const char *data, size_t n, int after_at) {
    uint64_t count = 0;
    if (after_at && n && data[0] == '@' && !(n > 1 && data[1] == '@'))
        count++;
    const char *p = data, *end = data + n;
    while (p + 1 < end && (p = memchr(p, '@', (size_t)(end - p - 1)))) {
        if (p[1] == '@') {
            count++;
            p += 2;
        } else {
            p++;
        }
    }
    return count;
}

/* Where the last "@@" lies wholly inside data[0, end), or NULL (bytes.rfind). */
static const char *rfind_mark(const char *data, size_t end) {
    size_t limit = end;
    while (limit >= 2) {
        const char *at = memrchr(data, '@', limit - 1);
        if (!at)
            return NULL;
        if (at[1] == '@')
            return at;
        limit = (size_t)(at - data) + 1;
    }
    return NULL;
}

/* The last complete stamp in data, or -1. */
static int64_t last_stamp(const char *data, size_t n) {
    size_t end = n;
    for (;;) {
        const char *at = rfind_mark(data, end);
        if (!at)
            return -1;
        size_t pos = (size_t)(at - data);
        if (pos + 2 + STAMP <= n) {
            int64_t value = 0;
            int k = 0;
            for (; k < STAMP && at[2 + k] >= '0' && at[2 + k] <= '9'; k++)
                value = value * 10 + (at[2 + k] - '0');
            if (k == STAMP)
                return value;
        }
        end = pos;
    }
}

static void sample(int64_t value) {
    if (nsamples == samples_cap) {
        samples_cap = samples_cap ? samples_cap * 2 : 65536;
        samples = realloc(samples, samples_cap * sizeof *samples);
        if (!samples)
            fail("samples", ENOMEM, -1);
    }
    samples[nsamples++] = value;
}

static void see_marker(struct conn *c, const char *data, size_t n) {
    size_t m = c->marker_len;
    if (m == 0 || memmem(data, n, c->marker, m)) {
        c->ready = 1;
        return;
    }
    /* a marker cut between two reads: the previous tail and this read's head */
    char joined[2 * TAIL];
    size_t head = n < m - 1 ? n : m - 1;
    memcpy(joined, c->tail, c->tail_len);
    memcpy(joined + c->tail_len, data, head);
    if (memmem(joined, c->tail_len + head, c->marker, m)) {
        c->ready = 1;
        return;
    }
    size_t keep = m - 1 < TAIL ? m - 1 : TAIL;
    if (n >= keep) {
        memcpy(c->tail, data + n - keep, keep);
        c->tail_len = keep;
    } else {
        size_t old = c->tail_len + n > keep ? keep - n : c->tail_len;
        memmove(c->tail, c->tail + c->tail_len - old, old);
        memcpy(c->tail + old, data, n);
        c->tail_len = old + n;
    }
}

static int backlog(const struct conn *c) { return c->out_off != c->out_len; }

/* A PONG goes out at once, unless a sender's batch is half sent: then after it. */
static void send_reply(struct conn *c) {
    if (!c->reply_len || c->closed || backlog(c))
        return;
    /* a few bytes into a socket that holds no backlog: a short write is not expected */
    if (send(c->fd, c->reply, c->reply_len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        c->closed = 1;
    c->reply_len = 0;
}

/* line[0, n) is one whole line (its LF gone): "PING token" gets "PONG :token". */
static int answer_ping(struct conn *c, const char *line, size_t n) {
    if (n && line[n - 1] == '\r')
        n--;
    if (n < 5 || n >= PING_MAX || memcmp(line, "PING ", 5) != 0)
        return 0;
    const char *arg = line + 5;
    size_t len = n - 5;
    if (len && *arg == ':') {
        arg++;
        len--;
    }
    c->reply_len = (size_t)snprintf(c->reply, sizeof c->reply, "PONG :%.*s\r\n", (int)len, arg);
    send_reply(c);
    return 1;
}

/* The server's PINGs in what c read: lines that start with "PING ", one of them perhaps
 * begun at the end of the previous read (kept in c->ping) or cut by the end of this one. */
static void see_pings(struct conn *c, const char *data, size_t n) {
    const char *p = data, *end = data + n;
    int line_start = c->at_line_start;
    if (n == 0)
        return;
    c->at_line_start = data[n - 1] == '\n';
    if (c->ping_len) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (c->ping_len + take < PING_MAX) {
            memcpy(c->ping + c->ping_len, data, take);
            c->ping_len += take;
        } else {
            c->ping_len = PING_MAX; /* too long to be ours: dropped at its end */
        }
        if (!nl)
            return;
        answer_ping(c, c->ping, c->ping_len);
        c->ping_len = 0;
        p = nl + 1;
        line_start = 1;
    }
    const char *last_nl = p < end ? memrchr(p, '\n', (size_t)(end - p)) : NULL;
    const char *whole = last_nl ? last_nl + 1 : p; /* complete lines lie in [p, whole) */
    if (line_start && p < whole)
        answer_ping(c, p, (size_t)((const char *)memchr(p, '\n', (size_t)(whole - p)) - p));
    for (const char *q = p; q < whole && (q = memmem(q, (size_t)(whole - q), "\nPING ", 6));) {
        const char *head = q + 1, *nl = memchr(head, '\n', (size_t)(whole - head));
        answer_ping(c, head, (size_t)(nl - head));
        q = nl;
    }
    const char *tail = last_nl ? last_nl + 1 : (line_start ? p : NULL);
    if (tail && tail < end) {
        size_t len = (size_t)(end - tail), cmp = len < 5 ? len : 5;
        if (memcmp(tail, "PING ", cmp) == 0) {
            c->ping_len = len < PING_MAX ? len : PING_MAX;
            memcpy(c->ping, tail, c->ping_len);
        }
    }
}

/* A connection stops counting as in flight once the server has said something to it. */
static void landed(struct conn *c) {
    if (c->connecting) {
        c->connecting = 0;
        connecting--;
    }
}

static void close_conn(struct conn *c) {
    landed(c);
    if (c->closed)
        return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->closed = 1;
}

/* A discarding receiver's deliveries so far from its bytes: exact once all have come. */
static void count_bytes(struct conn *c, uint64_t n) {
    c->bytes += n;
    uint64_t now = c->per_line > 0 ? (uint64_t)((double)c->bytes / c->per_line) : 0;
    if (now > c->counted) {
        delivered += now - c->counted;
        rooms[c->room].delivered += now - c->counted;
        c->counted = now;
    }
}

/* A receiver that got few lines in a recv is swept half as often, one that got many twice
 * as often: in 100 rooms of 20 a receiver gets about one line a millisecond, at fanout
 * 500 fifty, and a recv costs the same either way.  Most of that cost is the ACK the recv
 * sends (it empties the buffer) and the server's socket taking it in, all charged to the
 * generator on loopback: 256 to 2048 lines a recv cut the generator's CPU at fanout 500
 * from 64 % to 44 % of a core with the servers' figures unchanged.  Sweeping quiet
 * receivers less often than SWEEP_MAX ms did change them: chatd's rooms figure fell by a
 * third when acknowledgements came every 64 ms. */
static void repace(struct conn *c, uint64_t bytes) {
    double lines = c->per_line > 0 ? (double)bytes / c->per_line : 0;
    if (lines < FEW_LINES && c->pace < SWEEP_MAX)
        c->pace *= 2;
    else if (lines > MANY_LINES && c->pace > 1)
        c->pace /= 2;
    c->skip = c->pace - 1;
}

static void discard(struct conn *c) {
    ssize_t got = recv(c->fd, NULL, DISCARD_MAX, MSG_TRUNC | MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
        repace(c, 0);
        return;
    }
    if (got <= 0) {
        close_conn(c);
        return;
    }
    repace(c, (uint64_t)got);
    count_bytes(c, (uint64_t)got);
}

/* The discarding receivers are not in epoll for reading: each sweep drops what every one
 * holds, one recv each.  Woken per send of the server, they cost a recv per send;
 * swept, they cost a recv per SWEEP_NS or less often (repace), with more in each.  The
 * window does not wait for
 * them (offer() reads it from the receivers that read), and their buffers hold far more
 * than a sweep brings. */
static int ndiscarders;
static int64_t last_sweep;

static void sweep(void) {
    uint64_t before = delivered;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (!c->swept || c->closed)
            continue;
        if (c->skip)
            c->skip--;
        else
            discard(c);
    }
    last_sweep = now_ns();
    if (delivered != before)
        last_progress = last_sweep;
}

/* c's epoll interest: reading unless it is swept (see sweep()), writing while bytes wait. */
static void set_events(struct conn *c, int writing) {
    uint32_t in = c->swept ? 0 : EPOLLIN;
    struct epoll_event ev = {.events = in | (writing ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void readable(struct conn *c) {
    if (c->swept) {
        discard(c);
        return;
    }
    ssize_t got = recv(c->fd, readbuf, sizeof readbuf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        close_conn(c);
        return;
    }
    size_t n = (size_t)got;
    landed(c);
    if (!c->ready)
        see_marker(c, readbuf, n);
    if (c->pong)
        see_pings(c, readbuf, n);
    uint64_t count = count_marks(readbuf, n, c->at_end);
    c->at_end = readbuf[n - 1] == '@';
    if (probing) {
        c->probe_bytes += n;
        c->probe_marks += count;
        c->probe_whole = readbuf[n - 1] == '\n';
    }
    if (count && counting) {
        c->counted += count;
        rooms[c->room].sampled += count;
        delivered += count;
        rooms[c->room].delivered += count;
        int64_t stamp = last_stamp(readbuf, n);
        if (stamp >= 0)
            sample(now_ns() - stamp);
    }
}

static void watch(struct conn *c, int writing) {
    if (c->writing == writing || c->closed)
        return;
    set_events(c, writing);
    c->writing = writing;
}

static void flush(struct conn *c) {
    if (c->closed || c->out_off == c->out_len)
        return;
    ssize_t sent = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            watch(c, 1);
        } else {
            c->out_off = c->out_len;
            close_conn(c);
        }
        return;
    }
    c->out_off += (size_t)sent;
    watch(c, c->out_off != c->out_len);
    send_reply(c);
}

static void connected_now(struct conn *c);

/* One epoll wait and the reads and writes it allows; 1 if anything happened. */
static int pump(int timeout_ms) {
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (c->connecting == 1) {
            connected_now(c);
            continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            readable(c);
        if (events[i].events & EPOLLOUT)
            flush(c);
    }
    last_progress = now_ns();
    return 1;
}

/* Why connecting stopped early (idle mode), "" if it did not. */
static char connect_error[160];
static int connect_failed, connected;

/* Connecting ends here (idle mode; outside it the run ends): the first reason is kept. */
static void stop_connecting(int i, const char *step, int err) {
    if (!opt.idle)
        fail(step, err, i);
    if (!connect_failed)
        snprintf(connect_error, sizeof connect_error, "%d connected, then %s: %s", connected,
                 step, strerror(err));
    connect_failed = 1;
}

/* A failed step of connecting client i. */
static void connect_fault(struct conn *c, int i, const char *step, int err) {
    stop_connecting(i, step, err);
    if (c->fd > 0)
        close(c->fd);
    c->fd = -1;
    c->closed = 1;
}

/* Starts a non-blocking connect; the rest happens in connected_now() once it is writable. */
static void start_conn(struct conn *c, int i, const struct sockaddr_in *addr) {
    int small = 4096;
    if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0) {
        connect_fault(c, i, "socket", errno);
        return;
    }
    if (c->silent) /* a reader that never reads: its buffer fills at once */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (connect(c->fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
        connect_fault(c, i, "connect", errno);
        return;
    }
    c->connecting = 1;
    connecting++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Connected (or refused): the hello goes out and the client is read from now on. */
static void connected_now(struct conn *c) {
    int i = (int)(c - conns), err = 0, one = 1;
    socklen_t len = sizeof err;
    c->connecting = 2; /* the handshake is done; in flight until the server's first byte */
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (c->marker_len == 0 || c->silent || err)
        landed(c); /* nothing to wait for (a server that greets no one), or nothing to come */
    if (err) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        connect_fault(c, i, "connect", err);
        return;
    }
    size_t n;
    char *hello = expand(opt.dialect[c->alt].hello, i, c->room, &n);
    ssize_t sent = n ? send(c->fd, hello, n, MSG_NOSIGNAL) : 0;
    free(hello);
    if (sent != (ssize_t)n) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        connect_fault(c, i, "hello", sent < 0 ? errno : EIO);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connected++;
    if (c->silent) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Connects every client, --connect-batch at a time in flight, reading whatever arrives in
 * the meantime (a server's join notices must not pile up while we wait on a handshake);
 * returns how many connected.  Outside idle mode a failure ends the run; in it,
 * connecting stops at the first failure or the deadline (the rest count as closed). */
static int connect_all(int64_t deadline) {
    struct sockaddr_in addr[2] = {{.sin_family = AF_INET, .sin_port = htons(opt.port)},
                                  {.sin_family = AF_INET, .sin_port = htons(opt.alt_port)}};
    for (int k = 0; k < 2; k++)
        if (inet_pton(AF_INET, opt.host, &addr[k].sin_addr) != 1)
            fail("bad --host", EINVAL, -1);
    int next = 0;
    while (next < nconns || connecting) {
        if (!connect_failed && now_ns() > deadline)
            stop_connecting(next, "connect", ETIMEDOUT);
        while (!connect_failed && next < nconns && connecting < opt.connect_batch) {
            start_conn(&conns[next], next, &addr[conns[next].alt]);
            next++;
        }
        if (connect_failed) {
            for (; next < nconns; next++)
                conns[next].closed = 1;
            if (now_ns() > deadline)
                break; /* handshakes still in flight finish (or not) in later pumps */
        }
        pump(10);
    }
    return connected;
}

static void wait_ready(int64_t timeout) {
    int64_t deadline = now_ns() + timeout;
    for (;;) {
        int missing = 0;
        for (int i = 0; i < nconns && !missing; i++)
            missing = !conns[i].ready && !conns[i].closed;
        if (!missing || now_ns() > deadline)
            return;
        pump(50);
    }
}

/* Reads until nothing has arrived for `quiet` (join notices and the like). */
static void quiesce(int64_t quiet, int64_t timeout) {
    int64_t deadline = now_ns() + timeout;
    while (now_ns() < deadline) {
        if (now_ns() - last_progress > quiet && !pump((int)(quiet / 1000000)))
            return;
        pump(50);
    }
}

/* A batch of lines, all with this stamp, for sender c. */
static void queue_batch(struct conn *c, const char *digits, int batch) {
    memcpy(c->line + c->stamp_at, digits, STAMP);
    for (int k = 0; k < batch; k++)
        memcpy(c->out + (size_t)k * c->line_len, c->line, c->line_len);
    c->out_off = 0;
    c->out_len = (size_t)batch * c->line_len;
    c->lines_sent += (uint64_t)batch;
    flush(c);
}

/* One pass over the rooms: each whose window is open gets a batch from every idle sender. */
static int offer(int64_t now, int batch) {
    char digits[STAMP + 8];
    int stamped = 0, sent = 0;
    for (int r = 0; r < nrooms; r++) {
        struct room *room = &rooms[r];
        /* the window, as the room's readers see it (the discarding ones lag a sweep) */
        int seen_by = room->samplers;
        int64_t owed = (int64_t)(room->sent * (uint64_t)seen_by - room->samplers_own);
        if (owed - (int64_t)room->sampled >= (int64_t)opt.window * room->senders * seen_by)
            continue;
        for (int s = 0; s < room->senders; s++) {
            struct conn *c = &conns[room->first + s];
            if (c->closed || backlog(c))
                continue;
            if (!stamped) {
                snprintf(digits, sizeof digits, "%019lld", (long long)now);
                stamped = 1;
            }
            queue_batch(c, digits, batch);
            room->sent += (uint64_t)batch;
            if (!c->discards)
                room->samplers_own += (uint64_t)batch;
            sent = 1;
        }
    }
    return sent;
}

static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* User and system CPU seconds of the server's processes (fields 14 and 15 of stat). */
static double cpu_server(void) {
    double total = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], text[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        char *p = strrchr(text, ')');
        unsigned long long utime, stime;
        if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                        &stime) == 2)
            total += (double)(utime + stime) / sysconf(_SC_CLK_TCK);
    }
    return total;
}

static long rss_server(void) {
    long total = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long kib;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmRSS: %ld", &kib) == 1)
                total += kib;
        fclose(f);
    }
    return total;
}

/* Reads the silent client's buffer for up to 3 s: 1 if the server closed it. */
static int was_cut(struct conn *c) {
    int64_t deadline = now_ns() + 3000000000LL;
    while (now_ns() < deadline) {
        ssize_t got = recv(c->fd, readbuf, sizeof readbuf, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
        if (got < 0)
            usleep(10000);
    }
    return 0;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void setup(void) {
    nconns = opt.clients;
    nrooms = opt.rooms;
    conns = calloc((size_t)nconns, sizeof *conns);
    rooms = calloc((size_t)nrooms, sizeof *rooms);
    if (!conns || !rooms)
        fail("setup", ENOMEM, -1);
    for (int r = 0; r < nrooms; r++)
        rooms[r].first = -1;
    for (int i = 0; i < nconns; i++) {
        int r = (int)((long long)i * nrooms / nconns);
        struct conn *c = &conns[i];
        c->room = r;
        c->silent = opt.silent_last && i == nconns - 1;
        c->alt = opt.alt_every > 0 && i % opt.alt_every == opt.alt_every - 1;
        c->pong = opt.dialect[c->alt].pong;
        c->at_line_start = 1;
        c->marker = expand(opt.dialect[c->alt].ready, i, r, &c->marker_len);
        if (c->marker_len >= TAIL)
            fail("--ready is too long", EINVAL, -1);
        c->ready = c->silent || c->marker_len == 0;
        if (rooms[r].first < 0)
            rooms[r].first = i;
        rooms[r].count++;
    }
    int batch = opt.window / 2 > 0 ? opt.window / 2 : 1;
    for (int r = 0; r < nrooms; r++) {
        struct room *room = &rooms[r];
        int others = room->count - 1;
        room->senders = opt.senders < others ? opt.senders : others;
        room->receivers = others - (opt.silent_last && r == nrooms - 1 ? 1 : 0);
        for (int s = 0; s < room->senders; s++) {
            struct conn *c = &conns[room->first + s];
            size_t plen, slen;
            const struct dialect *d = &opt.dialect[c->alt];
            char *prefix = expand(d->prefix, room->first + s, r, &plen);
            char *suffix = expand(d->suffix, room->first + s, r, &slen);
            c->line_len = plen + 2 + STAMP + strlen(FILLER) + slen;
            c->line = xmalloc(c->line_len + 1);
            snprintf(c->line, c->line_len + 1, "%s@@%0*d%s%s", prefix, STAMP, 0, FILLER, suffix);
            c->stamp_at = plen + 2;
            c->out = xmalloc(c->line_len * (size_t)batch);
            free(prefix);
            free(suffix);
        }
    }
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        /* counted from the room's last reader, so that every room has one that samples */
        const struct room *room = &rooms[c->room];
        int k = opt.sample_every, last = room->first + room->count - 1;
        int back = last - i - (opt.silent_last && last == nconns - 1 ? 1 : 0);
        c->discards = CAN_DISCARD && !opt.idle && !c->silent && back % k != 0;
        if (c->discards)
            c->line_bytes = calloc((size_t)rooms[c->room].senders, sizeof *c->line_bytes);
        if (c->discards && !c->line_bytes)
            fail("setup", ENOMEM, -1);
        rooms[c->room].samplers += !c->discards && !c->silent;
    }
}

/* PINGs whole, cut across reads (even inside "PING "), beside deliveries, and a line
 * that only mentions PING: the PONGs that reach the other end of a socketpair. */
static int ping_test(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;
    struct conn c = {.fd = sv[0], .pong = 1, .at_line_start = 1};
    const char *reads[] = {
        "PING :a1\r\n:x!u@h PRIVMSG #bench :@@0000000000000000001 fox\r\nPI",
        "NG :b2\r\n:x!u@h PRIVMSG #bench :PING :not-me\r\nPING c3",
        "\r\n:x!u@h PRIVMSG #bench :@@0000000000000000002 fox\r\nPING :d",
        "4\r\n",
    };
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++)
        see_pings(&c, reads[k], strlen(reads[k]));
    /* a sender with half a batch out answers after it */
    char batch[] = "PRIVMSG #bench :@@0000000000000000003 fox\r\n";
    c.out = batch;
    c.out_len = sizeof batch - 1;
    c.out_off = 10;
    see_pings(&c, "PING :e5\r\n", 10);
    int early = c.reply_len == 0; /* it must wait */
    flush(&c);
    char got[512] = {0};
    ssize_t n = recv(sv[1], got, sizeof got - 1, MSG_DONTWAIT);
    close(sv[0]);
    close(sv[1]);
    const char *want = "PONG :a1\r\nPONG :b2\r\nPONG :c3\r\nPONG :d4\r\n"
                       "ench :@@0000000000000000003 fox\r\nPONG :e5\r\n";
    if (n < 0 || strcmp(got, want) != 0 || early) {
        fprintf(stderr, "pongs: %s\n", got);
        return 1;
    }
    return 0;
}

/* The counting and the stamps on cases a test names (bench's own tests run it). */
static int self_test(void) {
    static const struct {
        const char *data;
        int after_at;
        uint64_t marks;
        int64_t stamp;
    } cases[] = {
        {"@@0000000000000000123 fox\n@@0000000000000000456 fox\n", 0, 2, 456},
        {"@0000000000000000789 fox\n", 1, 1, -1}, /* a marker cut between two reads */
        {"@@0000000000000000111 fox\n@@00000", 0, 2, 111}, /* the last stamp is cut */
        {"a@b@@@", 1, 1, -1},
        {"@@@0000000000000000222", 0, 1, 222}, /* the stamp follows the last "@@" */
        {"", 1, 0, -1},
        {"@", 1, 1, -1},
        {"@@", 1, 1, -1},
    };
    int failed = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = strlen(cases[k].data);
        uint64_t marks = count_marks(cases[k].data, n, cases[k].after_at);
        int64_t stamp = last_stamp(cases[k].data, n);
        if (marks != cases[k].marks || stamp != cases[k].stamp) {
            fprintf(stderr, "case %zu: %llu marks, stamp %lld\n", k, (unsigned long long)marks,
                    (long long)stamp);
            failed = 1;
        }
    }
    /* A ready marker cut between two reads, in three pieces. */
    struct conn c = {.marker = "*** You joined #r1 (", .marker_len = 20};
    const char *pieces[] = {"*** Welcome\r\n*** You", " joined #r", "1 (1 users: guest1)\r\n"};
    for (int k = 0; k < 3; k++) {
        if (c.ready)
            failed = 1; /* seen before its last piece */
        see_marker(&c, pieces[k], strlen(pieces[k]));
    }
    if (!c.ready) {
        fprintf(stderr, "the ready marker cut in three was not seen\n");
        failed = 1;
    }
    failed |= ping_test();
    printf("{\"self_test\": \"%s\"}\n", failed ? "failed" : "ok");
    return failed;
}

/* --hello, --ready, --prefix, --suffix and their --alt- twins; 0 if key is none of them. */
static int dialect_option(const char *key, const char *value) {
    static const char *names[] = {"hello", "ready", "prefix", "suffix"};
    int alt = strncmp(key, "--alt-", 6) == 0;
    const char *name = key + (alt ? 6 : 2);
    struct dialect *d = &opt.dialect[alt];
    const char **fields[] = {&d->hello, &d->ready, &d->prefix, &d->suffix};
    if (strncmp(key, "--", 2) != 0)
        return 0;
    for (int k = 0; k < 4; k++) {
        if (strcmp(name, names[k]) == 0) {
            *fields[k] = value;
            return 1;
        }
    }
    return 0;
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s --port P --clients N [--rooms R] [--senders S] [--window W]\n"
            "       [--duration SECONDS] [--hello T] [--ready T] [--prefix T] [--suffix T]\n"
            "       [--silent-last] [--server-pid PID]... [--host 127.0.0.1] [--pong]\n"
            "       [--connect-batch N] [--sample-every K] [--alt-every K --alt-port P --alt-hello T --alt-ready T --alt-prefix T --alt-suffix T\n"
            "        --alt-pong] [--idle [--settle SECONDS]]\n",
            prog);
    exit(2);
}

static void parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *key = argv[i];
        int *flag = strcmp(key, "--silent-last") == 0 ? &opt.silent_last
                    : strcmp(key, "--idle") == 0      ? &opt.idle
                    : strcmp(key, "--pong") == 0      ? &opt.dialect[0].pong
                    : strcmp(key, "--alt-pong") == 0  ? &opt.dialect[1].pong
                                                      : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage(argv[0]);
        const char *value = argv[++i];
        if (strcmp(key, "--host") == 0) opt.host = value;
        else if (strcmp(key, "--port") == 0) opt.port = atoi(value);
        else if (strcmp(key, "--clients") == 0) opt.clients = atoi(value);
        else if (strcmp(key, "--rooms") == 0) opt.rooms = atoi(value);
        else if (strcmp(key, "--senders") == 0) opt.senders = atoi(value);
        else if (strcmp(key, "--window") == 0) opt.window = atoi(value);
        else if (strcmp(key, "--duration") == 0) opt.duration = atof(value);
        else if (strcmp(key, "--settle") == 0) opt.settle = atof(value);
        else if (strcmp(key, "--alt-every") == 0) opt.alt_every = atoi(value);
        else if (strcmp(key, "--alt-port") == 0) opt.alt_port = atoi(value);
        else if (strcmp(key, "--connect-batch") == 0) opt.connect_batch = atoi(value);
        else if (strcmp(key, "--sample-every") == 0) opt.sample_every = atoi(value);
        else if (dialect_option(key, value)) continue;
        else if (strcmp(key, "--server-pid") == 0 && opt.npids < MAX_PIDS)
            opt.pids[opt.npids++] = atoi(value);
        else usage(argv[0]);
    }
    if (!opt.alt_port)
        opt.alt_port = opt.port;
    if (opt.port <= 0 || opt.connect_batch < 1 || opt.clients < 2 || opt.rooms < 1 || opt.rooms > opt.clients / 2 ||
        opt.senders < 1 || opt.window < 1 || opt.duration <= 0 || opt.sample_every < 1)
        usage(argv[0]);
}

static void percentiles(double *p50, double *p99, double *max) {
    *p50 = *p99 = *max = 0;
    if (!nsamples)
        return;
    qsort(samples, nsamples, sizeof *samples, cmp64);
    size_t at99 = (size_t)(nsamples * 0.99);
    *p50 = samples[nsamples / 2] / 1e6;
    *p99 = samples[at99 < nsamples ? at99 : nsamples - 1] / 1e6;
    *max = samples[nsamples - 1] / 1e6;
}

/* The lines c should have got in the load, and (if it discards) their bytes. */
static uint64_t owed(const struct conn *c, uint64_t *bytes) {
    const struct room *room = &rooms[c->room];
    uint64_t lines = 0;
    *bytes = 0;
    for (int s = 0; s < room->senders; s++) {
        const struct conn *from = &conns[room->first + s];
        if (from == c)
            continue; /* no one hears its own lines */
        lines += from->lines_sent;
        if (c->discards)
            *bytes += from->lines_sent * c->line_bytes[s];
    }
    return lines;
}

/* 1 once every open receiver has what it is owed. */
static int all_in(void) {
    for (int i = 0; i < nconns; i++) {
        const struct conn *c = &conns[i];
        if (c->closed || c->silent)
            continue;
        uint64_t bytes, lines = owed(c, &bytes);
        if (c->discards ? c->bytes < bytes : c->counted < lines)
            return 0;
    }
    return 1;
}

/* Turns each discarding receiver's estimate into its count: what it is owed when its
 * bytes are exactly that, its estimate (and a mismatch) when not.  The mismatches. */
static int settle_discarded(void) {
    int mismatches = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        uint64_t bytes, lines = owed(c, &bytes);
        if (!c->discards)
            continue;
        if (c->bytes != bytes) {
            mismatches++;
            continue;
        }
        delivered = delivered - c->counted + lines;
        rooms[c->room].delivered = rooms[c->room].delivered - c->counted + lines;
        c->counted = lines;
    }
    return mismatches;
}

/* 1 once every receiver that should have seen sender s's probe line has. */
static int probed(int s) {
    for (int i = 0; i < nconns; i++) {
        const struct conn *c = &conns[i];
        const struct room *room = &rooms[c->room];
        if (s < room->senders && i != room->first + s && !c->closed && !c->silent &&
            !(c->probe_marks && c->probe_whole))
            return 0;
    }
    return 1;
}

/* Each sender says one line on its own (sender s of every room at once), and every
 * discarding receiver notes the bytes it got: what one line from that sender is to it. */
static void probe(int64_t timeout) {
    char zeros[STAMP + 1];
    memset(zeros, '0', STAMP);
    int most = 0;
    for (int r = 0; r < nrooms; r++)
        most = rooms[r].senders > most ? rooms[r].senders : most;
    probing = 1;
    for (int s = 0; s < most; s++) {
        for (int i = 0; i < nconns; i++)
            conns[i].probe_bytes = conns[i].probe_marks = conns[i].probe_whole = 0;
        for (int r = 0; r < nrooms; r++)
            if (s < rooms[r].senders && !conns[rooms[r].first + s].closed)
                queue_batch(&conns[rooms[r].first + s], zeros, 1);
        int64_t deadline = now_ns() + timeout;
        while (!probed(s) && now_ns() < deadline)
            pump(50);
        if (!probed(s))
            fail("a probe line did not reach every receiver", ETIMEDOUT, -1);
        quiesce(20000000LL, timeout); /* a line cut over two reads has all come */
        for (int i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            if (c->discards && s < rooms[c->room].senders)
                c->line_bytes[s] = (uint32_t)c->probe_bytes;
        }
    }
    probing = 0;
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        const struct room *room = &rooms[c->room];
        uint64_t sum = 0, heard = 0;
        for (int s = 0; c->discards && s < room->senders; s++) {
            sum += c->line_bytes[s];
            heard += c->line_bytes[s] > 0;
        }
        c->per_line = heard ? (double)sum / (double)heard : 0;
        c->lines_sent = 0; /* the probe lines are not the load's */
    }
}

/* Reads until every receiver has what it is owed, `timeout` passed or nothing came for
 * `stall`. */
static void drain(int64_t timeout, int64_t stall) {
    int64_t deadline = now_ns() + timeout;
    while (!all_in() && now_ns() < deadline) {
        pump(ndiscarders ? 1 : 50);
        if (ndiscarders)
            sweep();
        if (now_ns() - last_progress > stall)
            break;
    }
}

/* The throughput run: the window load for --duration seconds, then the drain. */
static int load_run(void) {
    int64_t begin = now_ns();
    last_progress = begin;
    connect_all(begin + 60000000000LL);
    wait_ready(30000000000LL);
    double connect_s = seconds(now_ns() - begin);
    quiesce(300000000LL, 60000000000LL);
    probe(10000000000LL);

    counting = 1;
    for (int i = 0; i < nconns; i++) { /* the discarding receivers are swept from now on */
        struct conn *c = &conns[i];
        ndiscarders += c->discards;
        c->swept = c->discards;
        c->pace = 1;
        if (c->swept && !c->closed)
            set_events(c, c->writing);
    }
    int batch = opt.window / 2 > 0 ? opt.window / 2 : 1;
    struct rusage ru0;
    getrusage(RUSAGE_SELF, &ru0);
    double cpu0 = cpu_self(), server0 = cpu_server();
    int64_t start = now_ns(), stop = start + (int64_t)(opt.duration * 1e9), now;
    int empty = 0;
    while ((now = now_ns()) < stop) {
        if (ndiscarders && now - last_sweep >= SWEEP_NS)
            sweep();
        int sent = offer(now, batch);
        /* Poll without blocking while reads keep coming (a wakeup costs more than an empty
         * poll then), and block once SPIN polls in a row found nothing: spinning there
         * would be CPU that the load does not need, counted against the generator. */
        int64_t left_ms = (stop - now_ns()) / 1000000;
        int most = ndiscarders ? SWEEP_NS / 1000000 : 10; /* ms: a sweep is due by then */
        int wait = empty < SPIN || sent ? 0 : (int)(left_ms < most ? (left_ms > 0 ? left_ms : 0) : most);
        empty = pump(wait) ? 0 : empty + 1;
    }
    uint64_t expected = 0;
    for (int r = 0; r < nrooms; r++)
        expected += rooms[r].sent * (uint64_t)rooms[r].receivers;
    drain(10000000000LL, 1000000000LL);
    int mismatches = settle_discarded();
    int64_t end = last_progress, measured = now_ns();
    double wall = seconds(measured - start);
    double gen_cpu = cpu_self() - cpu0, server_cpu = cpu_server() - server0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double gen_sys = (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                     (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    int ready = 0, closed = 0, discarders = 0;
    for (int i = 0; i < nconns; i++) {
        ready += conns[i].ready;
        closed += conns[i].closed;
        discarders += conns[i].discards;
    }
    const char *cut = "null";
    if (opt.silent_last)
        cut = was_cut(&conns[nconns - 1]) ? "true" : "false";
    long rss = rss_server();
    double p50, p99, max;
    percentiles(&p50, &p99, &max);
    double elapsed = seconds(end - start);
    printf("{\"generator\": \"c\", \"clients\": %d, \"rooms\": %d, \"ready\": %d, "
           "\"closed\": %d, \"connect_s\": %.3f, \"expected\": %llu, \"delivered\": %llu, "
           "\"elapsed_s\": %.6f, \"per_second\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f, \"samples\": %zu, \"gen_cpu_pct\": %.1f, "
           "\"gen_sys_pct\": %.1f, \"server_cpu_pct\": %.1f, \"server_rss_kib\": %ld, "
           "\"slow_cut\": %s, \"discarding\": %d, \"byte_mismatch\": %d}\n",
           nconns, nrooms, ready, closed, connect_s, (unsigned long long)expected,
           (unsigned long long)delivered, elapsed,
           delivered / (elapsed > 1e-6 ? elapsed : 1e-6), p50, p99, max, nsamples,
           100 * gen_cpu / wall, 100 * gen_sys / wall, 100 * server_cpu / wall, rss, cut, discarders, mismatches);
    return 0;
}

/* The idle run: connect everyone (60 s at most), let the server settle, read its RSS,
 * then one line from client 0 to all the others. */
static int idle_run(void) {
    long rss_before = rss_server();
    double cpu0 = cpu_self();
    int64_t begin = now_ns();
    last_progress = begin;
    int connected = connect_all(begin + 60000000000LL);
    wait_ready(30000000000LL);
    int64_t joined = now_ns();
    double connect_s = seconds(joined - begin), gen_cpu = cpu_self() - cpu0;
    quiesce(300000000LL, 60000000000LL);
    int64_t settle = now_ns() + (int64_t)(opt.settle * 1e9);
    while (now_ns() < settle)
        pump(50);
    long rss_after = rss_server();
    int ready = 0, open = 0;
    for (int i = 0; i < nconns; i++) {
        ready += conns[i].ready && !conns[i].closed;
        open += !conns[i].closed;
    }
    counting = 1;
    uint64_t expected = 0;
    int64_t sent_at = now_ns();
    if (open && !conns[0].closed) {
        char digits[STAMP + 8];
        snprintf(digits, sizeof digits, "%019lld", (long long)sent_at);
        queue_batch(&conns[0], digits, 1);
        expected = (uint64_t)open - 1;
    }
    drain(30000000000LL, 5000000000LL);
    double broadcast_s = delivered ? seconds(last_progress - sent_at) : 0;
    double p50, p99, max;
    percentiles(&p50, &p99, &max);
    printf("{\"generator\": \"c\", \"clients\": %d, \"connected\": %d, \"ready\": %d, "
           "\"open\": %d, \"connect_s\": %.3f, \"connect_error\": \"%s\", "
           "\"gen_cpu_pct\": %.1f, \"server_rss_before_kib\": %ld, \"server_rss_kib\": %ld, "
           "\"expected\": %llu, \"delivered\": %llu, \"broadcast_s\": %.3f, "
           "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
           nconns, connected, ready, open, connect_s, connect_error,
           100 * gen_cpu / (connect_s > 1e-6 ? connect_s : 1e-6), rss_before, rss_after,
           (unsigned long long)expected, (unsigned long long)delivered, broadcast_s, p50, p99,
           max);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--self-test") == 0)
        return self_test();
    parse(argc, argv);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    epfd = epoll_create1(0);
    setup();
    return opt.idle ? idle_run() : load_run();
}
