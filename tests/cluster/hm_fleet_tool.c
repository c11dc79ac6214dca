/*
 * hm_fleet_tool.c - the test bed's client for `make test-cluster`
 * (tests/cluster/run.sh): makes test images, adds references through a
 * writer's control socket, publishes listings onto the work queue, reads
 * verdicts through durable consumers, counts a stream's messages.
 *
 *   hm_fleet_tool images DIR N SEED           N distinct 128x128 PNGs
 *   hm_fleet_tool add EP BRAND PREFIX FILE... control `add` per file (ref PREFIX-<i>);
 *                                             prints each acknowledged ref
 *   hm_fleet_tool publish URLS PREFIX SELLER BRAND MAXBYTES FILE...
 *                                             one listing per file (id PREFIX-<i>)
 *   hm_fleet_tool collect URLS DURABLE FILTER EXPECT IDLE_S
 *                                             verdicts from a durable consumer:
 *                                             "subject msgid decision strikes" lines
 *   hm_fleet_tool count URLS STREAM           messages stored in STREAM
 *   hm_fleet_tool raw URLS ID LISTING FILE    one listing as given ("" omits a header)
 *   hm_fleet_tool latency EP URLS FILE...     add each file, then send it as a listing
 *                                             until it is counterfeit: add-to-matchable ms
 *   hm_fleet_tool connect URLS                exit 0 when the connection is accepted
 *
 * URLS are comma-separated; HM_NATS_USER and HM_NATS_PASSWORD give the credentials.
 */
#include <jansson.h>
#include <nats/nats.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>
#include <zmq.h>

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_die(const char *what, natsStatus s)
{
    const char *last = nats_GetLastError(NULL);
    fprintf(stderr, "hm_fleet_tool: %s: %s\n", what, last && last[0] ? last : natsStatus_GetText(s));
    return 1;
}

static void *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int s_images(const char *dir, int n, unsigned seed)
{
    if (VIPS_INIT("hm_fleet_tool"))
        return 1;
    enum { W = 128, B = 16 };
    static uint8_t rgb[W * W * 3];
    uint64_t st = 0x9e3779b97f4a7c15ULL ^ seed;
    for (int i = 0; i < n; i++) {
        uint8_t blocks[W / B][W / B][3];
        for (int by = 0; by < W / B; by++)
            for (int bx = 0; bx < W / B; bx++)
                for (int c = 0; c < 3; c++) {
                    st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                    blocks[by][bx][c] = (uint8_t)(st >> 56);
                }
        for (int y = 0; y < W; y++)
            for (int x = 0; x < W; x++)
                memcpy(rgb + (y * W + x) * 3, blocks[y / B][x / B], 3);
        VipsImage *im = vips_image_new_from_memory(rgb, sizeof rgb, W, W, 3, VIPS_FORMAT_UCHAR);
        char path[4096];
        snprintf(path, sizeof path, "%s/img-%05d.png", dir, i);
        int rc = !im || vips_image_write_to_file(im, path, NULL);
        if (im)
            g_object_unref(im);
        if (rc) {
            fprintf(stderr, "hm_fleet_tool: %s: %s\n", path, vips_error_buffer());
            return 1;
        }
    }
    return 0;
}

static int s_add(const char *ep, const char *brand, const char *prefix, int nf, char **files)
{
    void *z = zmq_ctx_new(), *d = zmq_socket(z, ZMQ_DEALER);
    int linger = 0, bad = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(d, ep) != 0)
        return fprintf(stderr, "hm_fleet_tool: connect %s failed\n", ep), 1;
    for (int i = 0; i < nf; i++) {
        size_t len;
        void *img = s_read(files[i], &len);
        if (!img)
            return fprintf(stderr, "hm_fleet_tool: cannot read %s\n", files[i]), 1;
        char ref[256], cmd[1024];
        snprintf(ref, sizeof ref, "%s-%d", prefix, i);
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "cmd", "add", "ref", ref, "bank", "counterfeit",
                              "brand", brand);
        char *text = json_dumps(j, JSON_COMPACT);
        snprintf(cmd, sizeof cmd, "%s", text);
        free(text);
        json_decref(j);
        zmq_send(d, cmd, strlen(cmd), ZMQ_SNDMORE);
        zmq_send(d, img, len, 0);
        free(img);
        char reply[4096];
        zmq_pollitem_t it = { d, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&it, 1, 10000) == 1 ? zmq_recv(d, reply, sizeof reply - 1, 0) : -1;
        if (n < 0) { /* the writer is gone: stop, as a client would */
            fprintf(stderr, "hm_fleet_tool: no reply for %s\n", ref);
            bad = 1;
            break;
        }
        reply[n < (int)sizeof reply - 1 ? n : (int)sizeof reply - 1] = '\0';
        if (strstr(reply, "\"ok\":true"))
            printf("%s\n", ref);
        else
            fprintf(stderr, "hm_fleet_tool: %s: %s\n", ref, reply);
        fflush(stdout);
    }
    zmq_close(d);
    zmq_ctx_term(z);
    return bad;
}

static natsStatus s_connect(const char *urls, natsConnection **nc, jsCtx **js)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    char buf[4096];
    const char *list[16];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", urls);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        list[n++] = t;
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, list, n);
    /* Credentials from the environment (libnats takes a URL's user info
     * from the first URL only). */
    if (s == NATS_OK && getenv("HM_NATS_USER"))
        s = natsOptions_SetUserInfo(o, getenv("HM_NATS_USER"), getenv("HM_NATS_PASSWORD"));
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 200);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    if (s == NATS_OK && js)
        s = natsConnection_JetStream(js, *nc, NULL);
    return s;
}

static int s_publish(const char *urls, const char *prefix, const char *seller, const char *brand,
                     long max, int nf, char **files)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = s_connect(urls, &nc, &js);
    if (s != NATS_OK)
        return s_die("connect", s);
    double t0 = s_now();
    int sent = 0, dups = 0;
    for (int i = 0; i < nf; i++) {
        size_t len;
        void *img = s_read(files[i], &len);
        if (!img)
            return fprintf(stderr, "hm_fleet_tool: cannot read %s\n", files[i]), 1;
        char id[256];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        if ((long)len > max) {
            printf("too_large %s\n", id); /* published nothing (DEPLOYMENT.md) */
            free(img);
            continue;
        }
        natsMsg *m = NULL;
        s = natsMsg_Create(&m, "hallmark.listing.in", NULL, img, (int)len);
        free(img);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Hm-Listing", id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Hm-Image", "0");
        if (s == NATS_OK && seller[0])
            s = natsMsgHeader_Set(m, "Hm-Seller", seller);
        if (s == NATS_OK && brand[0])
            s = natsMsgHeader_Set(m, "Hm-Brand", brand);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id;
        po.MaxWait = 5000;
        /* A publisher retries until stored: the id makes a resend harmless. */
        for (int attempt = 0; s == NATS_OK && attempt < 40; attempt++) {
            jsPubAck *pa = NULL;
            s = js_PublishMsg(&pa, js, m, &po, NULL);
            if (s == NATS_OK) {
                dups += pa->Duplicate;
                jsPubAck_Destroy(pa);
                break;
            }
            nats_Sleep(250);
            s = NATS_OK;
            if (attempt == 39)
                s = NATS_TIMEOUT;
        }
        natsMsg_Destroy(m);
        if (s != NATS_OK)
            return s_die(id, s);
        sent++;
    }
    double dt = s_now() - t0;
    fprintf(stderr, "published %d listings in %.2f s (%.0f/s), %d duplicates\n", sent, dt,
            dt > 0 ? sent / dt : 0.0, dups);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

/* "subject msgid decision strikes" for each verdict JSON. */
static void s_print_verdict(natsMsg *m)
{
    const char *id = NULL;
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    const char *dec = json_string_value(json_object_get(j, "decision"));
    json_t *strikes = json_object_get(json_object_get(j, "seller"), "strikes");
    printf("%s %s %s %lld\n", natsMsg_GetSubject(m), id ? id : "-", dec ? dec : "-",
           strikes ? (long long)json_integer_value(strikes) : -1LL);
    json_decref(j);
}

static int s_collect(const char *urls, const char *durable, const char *filter, long expect,
                     double idle)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = s_connect(urls, &nc, &js);
    if (s != NATS_OK)
        return s_die("connect", s);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "HM_VERDICTS";
    so.Config.FilterSubject = filter;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    for (int attempt = 0; attempt < 30; attempt++) {
        s = js_PullSubscribe(&sub, js, filter, durable, NULL, &so, &jerr);
        if (s == NATS_OK)
            break;
        nats_Sleep(500);
    }
    if (s != NATS_OK)
        return s_die("subscribe", s);
    long got = 0;
    double last = s_now();
    while ((expect < 0 || got < expect) && s_now() - last < idle) {
        natsMsgList list = { 0 };
        s = natsSubscription_Fetch(&list, sub, 64, 1000, &jerr);
        for (int i = 0; i < list.Count; i++) {
            s_print_verdict(list.Msgs[i]);
            natsMsg_AckSync(list.Msgs[i], NULL, NULL);
            got++;
            last = s_now();
        }
        natsMsgList_Destroy(&list);
    }
    fflush(stdout);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

static int s_count(const char *urls, const char *stream)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = s_connect(urls, &nc, &js);
    if (s != NATS_OK)
        return s_die("connect", s);
    jsStreamInfo *si = NULL;
    for (int attempt = 0; attempt < 30; attempt++) {
        if ((s = js_GetStreamInfo(&si, js, stream, NULL, NULL)) == NATS_OK)
            break;
        nats_Sleep(500);
    }
    if (s != NATS_OK)
        return s_die(stream, s);
    printf("%llu %llu\n", (unsigned long long)si->State.Msgs, (unsigned long long)si->State.LastSeq);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

/* Publish one listing (image bytes) with id; 0 or a libnats status. */
static natsStatus s_listing(jsCtx *js, const char *id, const void *img, size_t len)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, "hallmark.listing.in", NULL, img, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Hm-Listing", id);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    if (s == NATS_OK)
        s = js_PublishMsg(NULL, js, m, &po, NULL);
    natsMsg_Destroy(m);
    return s;
}

/* One listing exactly as given: id and listing header may be "" (omitted). */
static int s_raw(const char *urls, const char *id, const char *listing, const char *file)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    size_t len = 0;
    void *img = s_read(file, &len);
    natsStatus s = img ? s_connect(urls, &nc, &js) : NATS_ERR;
    natsMsg *m = NULL;
    if (s == NATS_OK)
        s = natsMsg_Create(&m, "hallmark.listing.in", NULL, img, (int)len);
    if (s == NATS_OK && listing[0])
        s = natsMsgHeader_Set(m, "Hm-Listing", listing);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id[0] ? id : NULL;
    if (s == NATS_OK)
        s = js_PublishMsg(NULL, js, m, &po, NULL);
    natsMsg_Destroy(m);
    free(img);
    if (nc) {
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
    }
    return s == NATS_OK ? 0 : s_die(file, s);
}

/* Add-to-matchable: add each file on the writer, then send it as a listing
 * (again, under a new id, until the verdict is counterfeit); the time from
 * the add's send to that verdict, watched on a core subscription. */
static int s_latency(const char *ep, const char *urls, int nf, char **files)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = s_connect(urls, &nc, &js);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, nc, "hallmark.verdict.>");
    if (s != NATS_OK)
        return s_die("connect", s);
    void *z = zmq_ctx_new(), *d = zmq_socket(z, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(d, ep);
    double *ms = calloc((size_t)nf + 1, sizeof *ms);
    for (int i = 0; i < nf; i++) {
        size_t len;
        void *img = s_read(files[i], &len);
        char cmd[512], reply[2048], id[64];
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"ref\":\"lat-%d\",\"bank\":\"counterfeit\","
                 "\"brand\":\"lat\"}", i);
        double t0 = s_now();
        zmq_send(d, cmd, strlen(cmd), ZMQ_SNDMORE);
        zmq_send(d, img, len, 0);
        zmq_pollitem_t it = { d, 0, ZMQ_POLLIN, 0 };
        if (!img || zmq_poll(&it, 1, 10000) != 1 || zmq_recv(d, reply, sizeof reply, 0) < 0)
            return fprintf(stderr, "hm_fleet_tool: no reply to add lat-%d\n", i), 1;
        int found = 0;
        for (int k = 0; !found && k < 200; k++) {
            snprintf(id, sizeof id, "lat-%d-%d", i, k);
            if (s_listing(js, id, img, len) != NATS_OK)
                continue;
            natsMsg *m = NULL;
            while (natsSubscription_NextMsg(&m, sub, 5000) == NATS_OK) {
                const char *mid = NULL;
                natsMsgHeader_Get(m, "Nats-Msg-Id", &mid);
                int mine = mid && strcmp(mid, id) == 0;
                found = mine && strstr(natsMsg_GetSubject(m), ".counterfeit") != NULL;
                natsMsg_Destroy(m);
                if (mine)
                    break;
            }
        }
        ms[i] = found ? (s_now() - t0) * 1000 : -1;
        free(img);
    }
    printf("add-to-matchable ms:");
    for (int i = 0; i < nf; i++)
        printf(" %.0f", ms[i]);
    printf("\n");
    free(ms);
    zmq_close(d);
    zmq_ctx_term(z);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "images") && argc == 5)
        return s_images(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));
    if (!strcmp(cmd, "add") && argc >= 5)
        return s_add(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    if (!strcmp(cmd, "publish") && argc >= 7)
        return s_publish(argv[2], argv[3], argv[4], argv[5], atol(argv[6]), argc - 7, argv + 7);
    if (!strcmp(cmd, "collect") && argc == 7)
        return s_collect(argv[2], argv[3], argv[4], atol(argv[5]), atof(argv[6]));
    if (!strcmp(cmd, "raw") && argc == 6)
        return s_raw(argv[2], argv[3], argv[4], argv[5]);
    if (!strcmp(cmd, "latency") && argc >= 5)
        return s_latency(argv[2], argv[3], argc - 4, argv + 4);
    if (!strcmp(cmd, "count") && argc == 4)
        return s_count(argv[2], argv[3]);
    if (!strcmp(cmd, "connect") && argc == 3) {
        natsConnection *nc = NULL;
        natsStatus s = s_connect(argv[2], &nc, NULL);
        if (s != NATS_OK)
            return s_die("connect", s);
        natsConnection_Destroy(nc);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of tests/cluster/hm_fleet_tool.c\n");
    return 2;
}
