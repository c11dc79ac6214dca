/* daemon_util.c - start, drive and stop a private hallmarkd for the tests. */
#include "daemon_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "test_util.h"

static long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

const char *du_bin(void)
{
    static char path[4096];
    const char *env = getenv("HM_BIN_DIR");
    if (env && *env) {
        snprintf(path, sizeof path, "%s/hallmarkd", env);
        return path;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(n > 0, "cannot find the test binary");
    self[n] = '\0';
    snprintf(path, sizeof path, "%s/hallmarkd", dirname(self));
    return path;
}

const char *du_top(void)
{
    static char top[4096];
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", du_bin());
    char *dir = dirname(tmp); /* .../build */
    snprintf(top, sizeof top, "%s/..", dir);
    return top;
}

/* A free loopback port: bind port 0, read it back, close. */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(fd >= 0);
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void s_pick_ports(du_daemon_t *d);

void du_init(du_daemon_t *d)
{
    memset(d, 0, sizeof *d);
    d->tmp = tu_tmpdir();
    snprintf(d->db, sizeof d->db, "%s/db", d->tmp);
    snprintf(d->log, sizeof d->log, "%s/hallmarkd.log", d->tmp);
    mkdir(d->db, 0700);
    s_pick_ports(d);
    d->zctx = zmq_ctx_new();
}

/* Free loopback ports for every endpoint and the metrics port. */
static void s_pick_ports(du_daemon_t *d)
{
    int used[DU_NEP + 1] = { 0 };
    for (int i = 0; i <= DU_NEP; i++) {
        int p, dup;
        do {
            p = s_free_port();
            dup = 0;
            for (int k = 0; k < i; k++)
                dup |= used[k] == p;
        } while (dup);
        used[i] = p;
        if (i < DU_NEP)
            snprintf(d->ep[i], sizeof d->ep[i], "tcp://127.0.0.1:%d", p);
    }
    d->metrics_port = used[DU_NEP];
    snprintf(d->metrics, sizeof d->metrics, "127.0.0.1:%d", d->metrics_port);
}

void du_start(du_daemon_t *d, const char *const *extra)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = du_bin();
    argv[n++] = "--db";
    argv[n++] = d->db;
    static const char *const names[DU_NEP] = { "--ingest", "--pipeline-in", "--pipeline-out",
                                               "--feed", "--control" };
    for (int i = 0; i < DU_NEP; i++) {
        argv[n++] = names[i];
        argv[n++] = d->ep[i];
    }
    argv[n++] = "--metrics";
    argv[n++] = d->metrics;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    ck_assert_msg(access(argv[0], X_OK) == 0, "no executable %s (set HM_BIN_DIR)", argv[0]);
    truncate(d->log, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test never leaves a daemon behind */
        if (getppid() != parent)
            _exit(127);
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    long end = s_now_ms() + 10000;
    while (s_now_ms() < end) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (tu_try_read_file(d->log, &buf, &len) == 0) {
            int ready = len && memmem(buf, len, "event=ready", 11) != NULL;
            free(buf);
            if (ready)
                return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            /* A "free" port can be taken by someone else before the daemon
             * binds it (a shared machine): pick new ports and start again. */
            uint8_t *lb = NULL;
            size_t ll = 0;
            int in_use = tu_try_read_file(d->log, &lb, &ll) == 0 && ll &&
                         memmem(lb, ll, "Address already in use", 22) != NULL;
            free(lb);
            if (in_use && d->start_retries++ < 3) {
                s_pick_ports(d);
                du_start(d, extra);
                return;
            }
            ck_abort_msg("hallmarkd exited at start-up (status %d); see %s", st, d->log);
        }
        usleep(20000);
    }
    ck_abort_msg("hallmarkd not ready within 10 s; see %s", d->log);
}

int du_stop(du_daemon_t *d, int sig, int timeout_ms)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    long end = s_now_ms() + timeout_ms;
    int st = 0;
    while (s_now_ms() < end) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return -1;
}

void du_cleanup(du_daemon_t *d)
{
    if (d->pid > 0)
        du_stop(d, SIGKILL, 5000);
    if (d->zctx) {
        zmq_ctx_term(d->zctx);
        d->zctx = NULL;
    }
    if (getenv("HM_KEEP_TMP") == NULL)
        tu_rmtree(d->tmp);
    free(d->tmp);
    d->tmp = NULL;
}

void *du_socket(du_daemon_t *d, int type, const char *ep)
{
    void *s = zmq_socket(d->zctx, type);
    int zero = 0;
    ck_assert(s != NULL);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (ep)
        ck_assert_msg(zmq_connect(s, ep) == 0, "connect %s: %s", ep, zmq_strerror(zmq_errno()));
    return s;
}

void du_send_frames(void *sock, const void *const *frames, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0,
                      "zmq_send: %s", zmq_strerror(zmq_errno()));
}

void du_send_request(void *sock, const char *rid, const char *listing, const char *seller,
                     const char *brand, const void *img, size_t len)
{
    json_t *h = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "v", 1, "request_id", rid, "listing_id",
                          listing, "image_id", "img-1", "seller_id", seller, "brand", brand);
    char *text = json_dumps(h, JSON_COMPACT);
    const void *f[2] = { text, img };
    size_t l[2] = { strlen(text), len };
    du_send_frames(sock, f, l, 2);
    free(text);
    json_decref(h);
}

json_t *du_recv_json(void *sock, int timeout_ms, char *topic, size_t topic_cap)
{
    zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    json_t *j = NULL;
    int more = 1, i = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        ck_assert(zmq_msg_recv(&m, sock, 0) >= 0);
        more = zmq_msg_more(&m);
        if (i == 0 && topic) {
            size_t n = zmq_msg_size(&m) < topic_cap - 1 ? zmq_msg_size(&m) : topic_cap - 1;
            memcpy(topic, zmq_msg_data(&m), n);
            topic[n] = '\0';
        }
        if (!more && zmq_msg_size(&m) > 0) {
            json_error_t e;
            j = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &e);
            ck_assert_msg(j != NULL, "reply is not JSON: %s", e.text);
        }
        zmq_msg_close(&m);
        i++;
    }
    return j;
}

json_t *du_score(du_daemon_t *d, const char *rid, const char *listing, const char *seller,
                 const char *brand, const void *img, size_t len)
{
    void *s = du_socket(d, ZMQ_DEALER, d->ep[DU_INGEST]);
    du_send_request(s, rid, listing, seller, brand, img, len);
    json_t *j = du_recv_json(s, 5000, NULL, 0);
    zmq_close(s);
    ck_assert_msg(j != NULL, "no verdict for %s within 5 s", rid);
    return j;
}

json_t *du_control(du_daemon_t *d, const char *cmd, const void *data, size_t len)
{
    void *s = du_socket(d, ZMQ_DEALER, d->ep[DU_CONTROL]);
    const void *f[2] = { cmd, data };
    size_t l[2] = { strlen(cmd), len };
    du_send_frames(s, f, l, data ? 2 : 1);
    json_t *j = du_recv_json(s, 5000, NULL, 0);
    zmq_close(s);
    ck_assert_msg(j != NULL, "no control reply for %s within 5 s", cmd);
    return j;
}

const char *du_decision(json_t *v)
{
    const char *s = json_string_value(json_object_get(v, "decision"));
    return s ? s : "";
}

const char *du_error_code(json_t *v)
{
    const char *s = json_string_value(json_object_get(json_object_get(v, "error"), "code"));
    return s ? s : "";
}

static void *s_pics[256];
static size_t s_pic_lens[256];

static void s_make_pic(int n)
{
    enum { W = 128, B = 16 };
    uint8_t *rgb = malloc(W * W * 3);
    uint64_t st = 0x1234567ULL + (uint64_t)n * 7919;
    uint8_t blocks[8][8][3];
    for (int by = 0; by < 8; by++)
        for (int bx = 0; bx < 8; bx++)
            for (int c = 0; c < 3; c++)
                blocks[by][bx][c] = (uint8_t)(tu_rand(&st) >> 56);
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++)
            memcpy(rgb + (y * W + x) * 3, blocks[y / B][x / B], 3);
    ck_assert(tu_encode(rgb, W, W, ".png", &s_pics[n], &s_pic_lens[n]) == 0);
    free(rgb);
}

const void *du_pic(int n)
{
    ck_assert(n >= 0 && n < 256);
    if (!s_pics[n])
        s_make_pic(n);
    return s_pics[n];
}

size_t du_pic_len(int n)
{
    du_pic(n);
    return s_pic_lens[n];
}

void *du_big_pic(int seed, int w, int h, size_t *len)
{
    uint8_t *rgb = malloc((size_t)w * h * 3);
    uint64_t st = 0xabcdefULL + (uint64_t)seed;
    for (size_t i = 0; i < (size_t)w * h * 3; i += 8) {
        uint64_t r = tu_rand(&st);
        memcpy(rgb + i, &r, (size_t)w * h * 3 - i < 8 ? (size_t)w * h * 3 - i : 8);
    }
    void *out = NULL;
    ck_assert(tu_encode(rgb, w, h, ".png", &out, len) == 0);
    free(rgb);
    return out;
}

int du_http_get(du_daemon_t *d, const char *path, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->metrics_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    ck_assert(write(fd, req, (size_t)n) == n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}
