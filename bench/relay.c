/* The reference relay of the benchmark: the job chatd does in the bench scenarios, in C,
 * with nothing else, so that its figures are the limit of that job on this machine.
 *
 * One process, epoll, non-blocking sockets, TCP_NODELAY.  The protocol subset is chatd's
 * for what the scenarios use.  Line clients: the greeting (ending in "*** You are guestN"
 * and "*** You joined #lobby (N users: ...)"), join and leave notices, "/join ROOM", and
 * chat lines relayed as "<NICK> TEXT" CR LF.  IRC clients (on the second port): NICK, USER
 * (answered with 001), JOIN #ROOM (JOIN, 353, 366), PRIVMSG #ROOM :TEXT, PING (PONG), QUIT;
 * they are in no room until they JOIN, and one room at a time.  A chat line goes to every
 * other member of the sender's room, rendered once per protocol ("<NICK> TEXT" or
 * ":NICK!USER@127.0.0.1 PRIVMSG #ROOM :TEXT").
 *
 * Output is appended to each recipient's buffer and sent with one send() per client per
 * loop tick; EPOLLOUT is watched only while unsent bytes remain; a client whose unsent
 * output passes max_send_buffer is cut, as chatd does.  Buffers are kept between ticks (no
 * malloc or free per send) and handed back once the loop has been quiet for QUIET_MS, so
 * an idle client holds none.
 *
 * usage: relay PORT [MAX_SEND_BUFFER [IRC_PORT]]   (listens on 127.0.0.1; SIGTERM ends it)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536    /* chatd's read size */
#define MAX_LINE 2048      /* chatd's max_line_bytes */
#define MAX_EVENTS 1024
#define NAME_MAX_LEN 33    /* '#' and 32 characters */
#define NICK_MAX 32
#define SOURCE_MAX 96      /* "<NICK> " or ":NICK!irc@127.0.0.1" */
#define QUIET_MS 200       /* a loop quiet this long hands every empty buffer back */
#define KEEP_MAX (1 << 20) /* a buffer grown past this is freed as soon as it is empty */
#define HOST "127.0.0.1"
#define ACCEPT_BATCH 128   /* accepts per tick, as chatd: a storm cannot starve the chat */

struct buf {
    char *data;
    size_t off, len, cap; /* unsent bytes are data[off .. len) */
};

struct client {
    int fd;
    unsigned id;    /* guestN */
    int room;       /* index into rooms, -1 outside any */
    int slot;       /* position in the room's member array */
    int held;       /* position in the held list + 1, 0 if not there */
    int dirty, writing, dead, irc, user_seen, registered;
    char nick[NICK_MAX + 1];
    char line_src[SOURCE_MAX]; /* "<NICK> " */
    char irc_src[SOURCE_MAX];  /* ":NICK!USER@HOST" */
    size_t line_src_len, irc_src_len;
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
static struct client **dirty, **dead, **held;
static int dirty_count, dead_count, held_count;
static size_t max_send_buffer = 262144;
static unsigned next_guest = 1;
static int epfd;
static char scratch[MAX_LINE + 512], scratch_irc[MAX_LINE + 512];

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size);
    if (!p) {
        perror("relay: out of memory");
        exit(1);
    }
    return p;
}

static void hold(struct client *c) {
    if (!c->held) {
        held[held_count++] = c;
        c->held = held_count;
    }
}

static void unhold(struct client *c) {
    if (!c->held)
        return;
    struct client *last = held[--held_count];
    held[c->held - 1] = last;
    last->held = c->held;
    c->held = 0;
}

static void release(struct buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Room for n more bytes: reclaim what was sent, then grow (the slow path of append). */
static void make_room(struct client *c, struct buf *b, size_t n) {
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    hold(c);
}

static inline void append(struct client *c, struct buf *b, const char *data, size_t n) {
    if (b->len + n > b->cap)
        make_room(c, b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

/* Every empty buffer back to malloc: the loop has been quiet, nobody is chatting. */
static void sweep(void) {
    for (int i = held_count - 1; i >= 0; i--) {
        struct client *c = held[i];
        if (c->in.len == 0)
            release(&c->in);
        if (c->out.off == c->out.len)
            release(&c->out);
        if (!c->in.data && !c->out.data)
            unhold(c);
    }
    malloc_trim(0); /* what was freed goes back to the system, as chatd trims after a storm */
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
    append(c, &c->out, data, n);
    if (c->out.len - c->out.off > max_send_buffer) {
        kill_client(c); /* a slow reader: cut, as chatd cuts it */
        return;
    }
    if (!c->dirty) {
        c->dirty = 1;
        dirty[dirty_count++] = c;
    }
}

/* To every member of the room but skip, in its own protocol's rendering. */
static void broadcast(int room, const char *line, size_t line_len, const char *irc,
                      size_t irc_len, const struct client *skip) {
    struct room *r = &rooms[room];
    for (int i = 0; i < r->count; i++) {
        struct client *m = r->members[i];
        if (m == skip)
            continue;
        if (m->irc)
            queue(m, irc, irc_len);
        else
            queue(m, line, line_len);
    }
}

static void set_nick(struct client *c, const char *nick) {
    snprintf(c->nick, sizeof c->nick, "%s", nick);
    c->line_src_len = (size_t)snprintf(c->line_src, sizeof c->line_src, "<%s> ", c->nick);
    c->irc_src_len = (size_t)snprintf(c->irc_src, sizeof c->irc_src, ":%s!%s@" HOST, c->nick,
                                      c->irc ? "irc" : "line");
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
    int n = snprintf(scratch, sizeof scratch, "*** %s left %s (%s)\r\n", c->nick, r->name,
                     reason);
    int m = snprintf(scratch_irc, sizeof scratch_irc, "%s PART %s :%s\r\n", c->irc_src, r->name,
                     reason);
    broadcast(c->room, scratch, (size_t)n, scratch_irc, (size_t)m, NULL);
    c->room = -1;
}

/* What the joiner hears: "*** You joined ... (N users: ...)", or JOIN, 353 and 366. */
static void joined(struct client *c, struct room *r) {
    int n;
    if (c->irc) {
        n = snprintf(scratch, sizeof scratch, "%s JOIN %s\r\n:relay 353 %s = %s :", c->irc_src,
                     r->name, c->nick, r->name);
    } else {
        n = snprintf(scratch, sizeof scratch, "*** You joined %s (%d user%s: ", r->name,
                     r->count, r->count == 1 ? "" : "s");
    }
    queue(c, scratch, (size_t)n);
    const char *sep = c->irc ? " " : ", ";
    size_t sep_len = c->irc ? 1 : 2;
    for (int i = 0; i < r->count; i++) {
        if (i)
            queue(c, sep, sep_len);
        queue(c, r->members[i]->nick, strlen(r->members[i]->nick));
    }
    if (c->irc) {
        n = snprintf(scratch, sizeof scratch, "\r\n:relay 366 %s %s :End of /NAMES list.\r\n",
                     c->nick, r->name);
        queue(c, scratch, (size_t)n);
    } else {
        queue(c, ")\r\n", 3);
    }
}

static void enter(struct client *c, const char *name) {
    int room = find_room(name);
    struct room *r = &rooms[room];
    int n = snprintf(scratch, sizeof scratch, "*** %s joined %s\r\n", c->nick, r->name);
    int m = snprintf(scratch_irc, sizeof scratch_irc, "%s JOIN %s\r\n", c->irc_src, r->name);
    broadcast(room, scratch, (size_t)n, scratch_irc, (size_t)m, NULL);
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->members = xrealloc(r->members, r->cap * sizeof *r->members);
    }
    c->slot = r->count;
    r->members[r->count++] = c;
    c->room = room;
    joined(c, r);
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

/* A move to room `arg` ("#" optional): the joiner leaves its room first. */
static void move(struct client *c, char *arg) {
    if (*arg == '#')
        arg++;
    if (!valid_room(arg)) {
        static const char err[] = "*** error: invalid room\r\n";
        static const char irc_err[] = ":relay 403 * :No such channel\r\n";
        if (c->irc)
            queue(c, irc_err, sizeof irc_err - 1);
        else
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
}

static void command(struct client *c, char *line) {
    if (strncasecmp(line, "/join ", 6) == 0) {
        char *arg = line + 6;
        while (*arg == ' ')
            arg++;
        move(c, arg);
    } else if (strcasecmp(line, "/quit") == 0) {
        queue(c, "*** Bye\r\n", 9);
        kill_client(c);
    } else {
        static const char err[] = "*** error: unknown command (the relay knows /join, /quit)\r\n";
        queue(c, err, sizeof err - 1);
    }
}

/* TEXT from c to the others in its room, rendered once per protocol. */
static void say(struct client *c, const char *text, size_t n) {
    if (c->room < 0)
        return;
    if (n > MAX_LINE)
        n = MAX_LINE;
    const char *room = rooms[c->room].name;
    size_t head = c->line_src_len, irc_head;
    memcpy(scratch, c->line_src, head);
    memcpy(scratch + head, text, n);
    memcpy(scratch + head + n, "\r\n", 2);
    irc_head = (size_t)snprintf(scratch_irc, sizeof scratch_irc, "%s PRIVMSG %s :", c->irc_src,
                                room);
    memcpy(scratch_irc + irc_head, text, n);
    memcpy(scratch_irc + irc_head + n, "\r\n", 2);
    broadcast(c->room, scratch, head + n + 2, scratch_irc, irc_head + n + 2, c);
}

static void line_message(struct client *c, char *text, size_t n) {
    if (text[0] == '/' && text[1] != '/') {
        command(c, text);
        return;
    }
    if (text[0] == '/') { /* "//text" is the literal "/text" */
        text++;
        n--;
    }
    say(c, text, n);
}

static void welcome(struct client *c) {
    if (c->registered || !c->user_seen || !c->nick[0])
        return;
    c->registered = 1;
    int n = snprintf(scratch, sizeof scratch, ":relay 001 %s :Welcome to bench (reference relay)"
                     "\r\n", c->nick);
    queue(c, scratch, (size_t)n);
}

/* The word after the command, cut at its end; *rest is what follows it. */
static char *word(char *p, char **rest) {
    while (*p == ' ')
        p++;
    char *end = p + strcspn(p, " ");
    *rest = *end ? end + 1 : end;
    *end = '\0';
    return p;
}

static void irc_message(struct client *c, char *text, size_t n) {
    char *rest, *cmd = word(text, &rest);
    (void)n;
    if (strcasecmp(cmd, "PRIVMSG") == 0 && c->room >= 0) {
        char *after, *target = word(rest, &after);
        if (strcasecmp(target, rooms[c->room].name) != 0)
            return;
        if (*after == ':')
            after++;
        say(c, after, strlen(after));
    } else if (strcasecmp(cmd, "PING") == 0) {
        if (*rest == ':')
            rest++;
        int m = snprintf(scratch, sizeof scratch, ":relay PONG relay :%s\r\n", rest);
        queue(c, scratch, (size_t)m);
    } else if (strcasecmp(cmd, "NICK") == 0 && !c->registered) {
        char *nick = word(rest, &rest);
        if (*nick == ':')
            nick++;
        if (*nick)
            set_nick(c, nick);
        welcome(c);
    } else if (strcasecmp(cmd, "USER") == 0) {
        c->user_seen = 1;
        welcome(c);
    } else if (strcasecmp(cmd, "JOIN") == 0 && c->registered) {
        char *room = word(rest, &rest);
        room[strcspn(room, ",")] = '\0'; /* the first of a list only */
        move(c, room);
    } else if (strcasecmp(cmd, "QUIT") == 0) {
        queue(c, "ERROR :Closing link\r\n", 21);
        kill_client(c);
    } /* everything else is outside the subset, and ignored */
}

static void message(struct client *c, char *text, size_t n) {
    if (n && text[n - 1] == '\r')
        text[--n] = '\0';
    if (n == 0)
        return;
    if (c->irc)
        irc_message(c, text, n);
    else
        line_message(c, text, n);
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
        append(c, &c->in, data, (size_t)got);
    char *start = kept ? c->in.data : data, *end = start + (kept ? c->in.len : (size_t)got), *nl;
    while (!c->dead && (nl = memchr(start, '\n', (size_t)(end - start)))) {
        *nl = '\0';
        message(c, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = (size_t)(end - start);
    if (rest > MAX_LINE * 2)
        rest = 0; /* an endless line: dropped, as chatd discards it */
    if (rest && kept) {
        memmove(c->in.data, start, rest);
        c->in.len = rest;
    } else {
        c->in.len = 0; /* the buffer stays for the next partial line */
        if (rest)
            append(c, &c->in, start, rest);
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
    if (b->off == b->len) {
        b->off = b->len = 0; /* kept for the next tick; the quiet sweep hands it back */
        if (b->cap > KEEP_MAX)
            release(b);
    }
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
    held = xrealloc(held, cap * sizeof *held);
    fd_cap = cap;
}

static void accept_some(int listener, int irc) {
    for (int k = 0; k < ACCEPT_BATCH; k++) {
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
        c->irc = irc;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        if (irc)
            continue; /* no nick, no room until NICK, USER and JOIN */
        char nick[NICK_MAX + 1];
        snprintf(nick, sizeof nick, "guest%u", c->id);
        set_nick(c, nick);
        int n = snprintf(scratch, sizeof scratch,
                         "*** Welcome to bench (reference relay)\r\n*** You are %s\r\n", nick);
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
        unhold(dead[i]);
        release(&dead[i]->in);
        release(&dead[i]->out);
        free(dead[i]);
    }
    dead_count = 0;
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
        perror("relay: listen");
        exit(1);
    }
    grow_tables(fd);
    return fd;
}

/* The listeners' epoll data: these two addresses, never a client's. */
static char line_listener, irc_listener;

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s PORT [MAX_SEND_BUFFER [IRC_PORT]]\n", argv[0]);
        return 2;
    }
    if (argc >= 3)
        max_send_buffer = strtoul(argv[2], NULL, 10);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    epfd = epoll_create1(0);
    int listeners[2] = {listen_on(atoi(argv[1])), argc == 4 ? listen_on(atoi(argv[3])) : -1};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &line_listener};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listeners[0], &ev);
    if (listeners[1] >= 0) {
        ev.data.ptr = &irc_listener;
        epoll_ctl(epfd, EPOLL_CTL_ADD, listeners[1], &ev);
    }
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, held_count ? QUIET_MS : -1);
        if (n < 0 && errno != EINTR) {
            perror("relay: epoll_wait");
            return 1;
        }
        if (n == 0)
            sweep();
        for (int i = 0; i < n; i++) {
            void *data = events[i].data.ptr;
            if (data == &line_listener || data == &irc_listener) {
                accept_some(listeners[data == &irc_listener], data == &irc_listener);
                continue;
            }
            struct client *c = data;
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
