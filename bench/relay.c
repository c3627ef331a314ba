/* The reference relay of the benchmark: the job chatd does in the bench scenarios, in C,
 * with nothing else, so that its figures are the limit of that job on this machine.
 *
 * One process, epoll, non-blocking sockets, TCP_NODELAY.  The protocol subset is chatd's
 * for what the scenarios use: the greeting (ending in "*** You are guestN" and
 * "*** You joined #lobby (N users: ...)"), join and leave notices, "/join ROOM", and chat
 * lines relayed as "<NICK> TEXT" CR LF to every other member of the sender's room.  Output
 * is appended to each recipient's buffer and sent with one send() per client per loop
 * tick; a client whose unsent output passes max_send_buffer is cut, as chatd does.
 *
 * usage: relay PORT [MAX_SEND_BUFFER]    (listens on 127.0.0.1; SIGTERM ends it)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536    /* chatd's read size */
#define MAX_LINE 2048      /* chatd's max_line_bytes */
#define MAX_EVENTS 1024
#define NAME_MAX_LEN 33    /* '#' and 32 characters */

struct buf {
    char *data;
    size_t off, len, cap; /* unsent bytes are data[off .. len) */
};

struct client {
    int fd;
    unsigned id;          /* guestN */
    int room;             /* index into rooms, -1 before the join */
    int slot;             /* position in the room's member array */
    int dirty, writing, dead;
    struct buf in, out;
};

struct room {
    char name[NAME_MAX_LEN + 1];
    struct client **members;
    int count, cap;
};

static int fd_cap; /* the tables below hold one entry per descriptor at most */
static struct room *rooms;
static int room_count, room_cap;
static struct client **dirty, **dead;
static int dirty_count, dead_count;
static size_t max_send_buffer = 262144;
static unsigned next_guest = 1;
static int epfd;
static char scratch[MAX_LINE + 256];

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size);
    if (!p) {
        perror("relay: out of memory");
        exit(1);
    }
    return p;
}

static void release(struct buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void buf_append(struct buf *b, const char *data, size_t n) {
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off) { /* reclaim what was sent before growing */
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            b->data = xrealloc(b->data, cap);
            b->cap = cap;
        }
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void kill_client(struct client *c) {
    if (!c->dead) {
        c->dead = 1;
        dead[dead_count++] = c;
    }
}

static void queue(struct client *c, const char *data, size_t n) {
    if (c->dead)
        return;
    buf_append(&c->out, data, n);
    if (c->out.len - c->out.off > max_send_buffer) {
        kill_client(c); /* a slow reader: cut, as chatd cuts it */
        return;
    }
    if (!c->dirty) {
        c->dirty = 1;
        dirty[dirty_count++] = c;
    }
}

/* data to every member of the room but skip. */
static void broadcast(int room, const char *data, size_t n, const struct client *skip) {
    struct room *r = &rooms[room];
    for (int i = 0; i < r->count; i++)
        if (r->members[i] != skip)
            queue(r->members[i], data, n);
}

static int find_room(const char *name) {
    for (int i = 0; i < room_count; i++)
        if (strcasecmp(rooms[i].name, name) == 0)
            return i;
    if (room_count == room_cap) {
        room_cap = room_cap ? room_cap * 2 : 16;
        rooms = xrealloc(rooms, room_cap * sizeof *rooms);
    }
    struct room *r = &rooms[room_count];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return room_count++;
}

static void leave(struct client *c, const char *reason) {
    if (c->room < 0)
        return;
    struct room *r = &rooms[c->room];
    struct client *last = r->members[--r->count];
    r->members[c->slot] = last;
    last->slot = c->slot;
    int n = snprintf(scratch, sizeof scratch, "*** guest%u left %s (%s)\r\n", c->id, r->name,
                     reason);
    broadcast(c->room, scratch, (size_t)n, NULL);
    c->room = -1;
}

static void enter(struct client *c, const char *name) {
    int room = find_room(name);
    struct room *r = &rooms[room];
    int n = snprintf(scratch, sizeof scratch, "*** guest%u joined %s\r\n", c->id, r->name);
    broadcast(room, scratch, (size_t)n, NULL);
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->members = xrealloc(r->members, r->cap * sizeof *r->members);
    }
    c->slot = r->count;
    r->members[r->count++] = c;
    c->room = room;
    n = snprintf(scratch, sizeof scratch, "*** You joined %s (%d users: ", r->name, r->count);
    queue(c, scratch, (size_t)n);
    for (int i = 0; i < r->count; i++) {
        n = snprintf(scratch, sizeof scratch, "%sguest%u", i ? ", " : "", r->members[i]->id);
        queue(c, scratch, (size_t)n);
    }
    queue(c, ")\r\n", 3);
}

static int valid_room(const char *name) {
    size_t n = strlen(name);
    if (n < 1 || n > 32 || !((name[0] | 32) >= 'a' && (name[0] | 32) <= 'z'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static void command(struct client *c, char *line) {
    if (strncasecmp(line, "/join ", 6) == 0) {
        char *arg = line + 6;
        while (*arg == ' ')
            arg++;
        if (*arg == '#')
            arg++;
        if (!valid_room(arg)) {
            static const char err[] = "*** error: invalid room\r\n";
            queue(c, err, sizeof err - 1);
            return;
        }
        char name[NAME_MAX_LEN + 1];
        snprintf(name, sizeof name, "#%s", arg);
        if (c->room >= 0 && strcasecmp(rooms[c->room].name, name) == 0)
            return;
        char reason[NAME_MAX_LEN + 8];
        snprintf(reason, sizeof reason, "joined %s", name);
        leave(c, reason);
        enter(c, name);
    } else if (strcasecmp(line, "/quit") == 0) {
        queue(c, "*** Bye\r\n", 9);
        kill_client(c);
    } else {
        static const char err[] = "*** error: unknown command (the relay knows /join, /quit)\r\n";
        queue(c, err, sizeof err - 1);
    }
}

static void line(struct client *c, char *text, size_t n) {
    if (n && text[n - 1] == '\r')
        text[--n] = '\0';
    if (n == 0)
        return;
    if (text[0] == '/' && text[1] != '/') {
        command(c, text);
        return;
    }
    if (text[0] == '/') { /* "//text" is the literal "/text" */
        text++;
        n--;
    }
    if (n > MAX_LINE)
        n = MAX_LINE;
    int head = snprintf(scratch, sizeof scratch, "<guest%u> ", c->id);
    memcpy(scratch + head, text, n);
    memcpy(scratch + head + n, "\r\n", 2);
    broadcast(c->room, scratch, (size_t)head + n + 2, c);
}

static void readable(struct client *c) {
    static char data[READ_SIZE];
    ssize_t got = recv(c->fd, data, sizeof data, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        kill_client(c);
        return;
    }
    /* Lines are cut where they were read; a client keeps only its unfinished line. */
    int kept = c->in.len != 0;
    if (kept)
        buf_append(&c->in, data, (size_t)got);
    char *start = kept ? c->in.data : data, *end = start + (kept ? c->in.len : (size_t)got), *nl;
    while (!c->dead && (nl = memchr(start, '\n', (size_t)(end - start)))) {
        *nl = '\0';
        line(c, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = (size_t)(end - start);
    if (rest > MAX_LINE * 2)
        rest = 0; /* an endless line: dropped, as chatd discards it */
    if (rest == 0) {
        release(&c->in);
    } else if (kept) {
        memmove(c->in.data, start, rest);
        c->in.len = rest;
    } else {
        buf_append(&c->in, start, rest);
    }
}

static void watch(struct client *c, int writing) {
    if (c->writing == writing)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (writing ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->writing = writing;
}

static void flush(struct client *c) {
    struct buf *b = &c->out;
    c->dirty = 0;
    if (c->dead || b->off == b->len)
        return;
    ssize_t sent = send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EINTR)
            kill_client(c);
        else
            watch(c, 1);
        return;
    }
    b->off += (size_t)sent;
    if (b->off == b->len)
        release(b); /* an idle client holds no buffer, whatever it was sent before */
    watch(c, b->off != b->len);
}

static void grow_tables(int fd) {
    if (fd < fd_cap)
        return;
    int cap = fd_cap ? fd_cap : 1024;
    while (cap <= fd)
        cap *= 2;
    dirty = xrealloc(dirty, cap * sizeof *dirty);
    dead = xrealloc(dead, cap * sizeof *dead);
    fd_cap = cap;
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the rest wait in the backlog */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        grow_tables(fd);
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->id = next_guest++;
        c->room = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        int n = snprintf(scratch, sizeof scratch,
                         "*** Welcome to bench (reference relay)\r\n*** You are guest%u\r\n",
                         c->id);
        queue(c, scratch, (size_t)n);
        enter(c, "#lobby");
    }
}

static void bury(void) {
    /* A leave notice can push another slow reader over its limit: it joins the list. */
    for (int i = 0; i < dead_count; i++) {
        struct client *c = dead[i];
        leave(c, "connection lost");
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    int kept = 0;
    for (int i = 0; i < dirty_count; i++)
        if (!dirty[i]->dead)
            dirty[kept++] = dirty[i];
    dirty_count = kept;
    for (int i = 0; i < dead_count; i++) {
        release(&dead[i]->in);
        release(&dead[i]->out);
        free(dead[i]);
    }
    dead_count = 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [MAX_SEND_BUFFER]\n", argv[0]);
        return 2;
    }
    if (argc == 3)
        max_send_buffer = strtoul(argv[2], NULL, 10);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, SOMAXCONN) < 0) {
        perror("relay: listen");
        return 1;
    }
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    grow_tables(listener);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("relay: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct client *c = events[i].data.ptr;
            if (c == NULL) {
                accept_all(listener);
                continue;
            }
            if (c->dead)
                continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                readable(c);
            if ((events[i].events & EPOLLOUT) && !c->dirty) {
                c->dirty = 1;
                dirty[dirty_count++] = c;
            }
        }
        /* One send per client per tick, after everything this tick produced (a second
         * one only for the notices of a client that a failed send just cut). */
        do {
            bury();
            for (int i = 0; i < dirty_count; i++)
                flush(dirty[i]);
            dirty_count = 0;
        } while (dead_count);
    }
}
