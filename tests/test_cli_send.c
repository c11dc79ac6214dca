/*
 * test_cli_send.c - `hallmark send` against a stand-in for hallmarkd's
 * ingest socket (suite "cli_send"): a ROUTER in a thread that checks each
 * request's frames (JSON header per docs/PROTOCOL.md v1, then the image)
 * and answers with a verdict frame carrying the same request_id - except
 * for one listing, which it never answers, so the run shows verdicts and a
 * timeout line together.  Binary: $HM_BIN_DIR/hallmark or next to the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "test_util.h"

typedef struct {
    void *ctx, *router;
    int served, bad;
    volatile int stop;
} fake_t;

static void *s_fake(void *arg)
{
    fake_t *f = arg;
    while (!f->stop) {
        zmq_pollitem_t pi = { .socket = f->router, .events = ZMQ_POLLIN };
        if (zmq_poll(&pi, 1, 50) <= 0)
            continue;
        zmq_msg_t part[3];
        int n = 0, more = 1;
        while (more && n < 3) {
            zmq_msg_init(&part[n]);
            zmq_msg_recv(&part[n], f->router, 0);
            more = zmq_msg_more(&part[n]);
            n++;
        }
        json_t *h = n == 3 ? json_loadb(zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), 0, NULL) : NULL;
        const char *rid = json_string_value(json_object_get(h, "request_id"));
        const char *lid = json_string_value(json_object_get(h, "listing_id"));
        const char *sid = json_string_value(json_object_get(h, "seller_id"));
        if (more || !rid || !lid || !sid || strcmp(sid, "s-9") != 0 ||
            json_integer_value(json_object_get(h, "v")) != 1 ||
            !json_is_string(json_object_get(h, "image_id")) || !json_is_string(json_object_get(h, "brand")) ||
            zmq_msg_size(&part[2]) < 100)
            f->bad++;
        else if (strcmp(lid, "listing-1003") != 0) {
            json_t *v = json_pack("{s:i,s:s,s:s,s:f,s:s,s:[],s:I}", "v", 1, "request_id", rid, "decision",
                                  "unknown", "score", 0.0, "reason", "no_match", "matches", "bytes",
                                  (json_int_t)zmq_msg_size(&part[2]));
            char *s = json_dumps(v, JSON_COMPACT);
            zmq_send(f->router, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]), ZMQ_SNDMORE);
            zmq_send(f->router, s, strlen(s), 0);
            free(s);
            json_decref(v);
            f->served++;
        }
        json_decref(h);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
    return NULL;
}

START_TEST(test_send_verdicts_and_timeout)
{
    char bin[PATH_MAX], exe[PATH_MAX];
    const char *d = getenv("HM_BIN_DIR");
    if (d) {
        snprintf(bin, sizeof bin, "%s/hallmark", d);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        ck_assert(n > 0);
        exe[n] = 0;
        snprintf(bin, sizeof bin, "%s/hallmark", dirname(exe));
    }
    fake_t f = { 0 };
    f.ctx = zmq_ctx_new();
    f.router = zmq_socket(f.ctx, ZMQ_ROUTER);
    ck_assert_int_eq(zmq_bind(f.router, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t epl = sizeof ep;
    ck_assert_int_eq(zmq_getsockopt(f.router, ZMQ_LAST_ENDPOINT, ep, &epl), 0);
    pthread_t th;
    pthread_create(&th, NULL, s_fake, &f);

    char *tmp = tu_tmpdir(), out[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", tmp);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        execl(bin, bin, "send", "--connect", ep, "--seller", "s-9", "--window", "3", "--timeout-ms",
              "1500", "demo/queries", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    f.stop = 1;
    pthread_join(th, NULL);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 1); /* the unanswered one */
    ck_assert_int_eq(f.bad, 0);
    ck_assert_int_eq(f.served, 6);
    uint8_t *text;
    size_t len;
    tu_read_file(out, &text, &len);
    text = realloc(text, len + 1);
    text[len] = 0;
    int verdicts = 0, timeouts = 0;
    for (char *save, *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(o);
        const char *file = json_string_value(json_object_get(o, "file"));
        ck_assert_ptr_nonnull(file);
        if (json_object_get(o, "error")) {
            ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "timeout");
            ck_assert_str_eq(file, "demo/queries/listing-1003.jpg");
            timeouts++;
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(o, "decision")), "unknown");
            /* The image frame carried the whole file. */
            uint8_t *img;
            size_t ilen;
            tu_read_file(file, &img, &ilen);
            ck_assert_int_eq(json_integer_value(json_object_get(o, "bytes")), (json_int_t)ilen);
            free(img);
            verdicts++;
        }
        json_decref(o);
    }
    ck_assert_int_eq(verdicts, 6);
    ck_assert_int_eq(timeouts, 1);
    free(text);
    int zero = 0;
    zmq_setsockopt(f.router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(f.router);
    zmq_ctx_term(f.ctx);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

Suite *hm_suite_cli_send(void)
{
    Suite *s = suite_create("cli_send");
    TCase *tc = tcase_create("send");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_send_verdicts_and_timeout);
    suite_add_tcase(s, tc);
    return s;
}
