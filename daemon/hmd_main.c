/*
 * hmd_main.c - hallmarkd: configuration, signals, privileges, and the order
 * in which the parts start and stop.
 *
 * Signals: a self-pipe.  The handler only writes the signal number to the
 * pipe; the socket thread polls the read end and does the work.  The signals
 * are blocked while threads are created (so ours inherit the mask) and
 * unblocked in the socket thread just before it runs; a thread that existed
 * before main (sanitizer runtimes) may also take them, which is harmless.
 * Start: bind
 * every socket and the HTTP port; drop privileges (--user); open the engine;
 * start workers and the control thread; run.  Stop: the socket thread drains,
 * then everything closes in reverse order and the process exits 0.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "hm_decode.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_lf_ref.h"
#include "hm_log.h"
#include "hmd_config.h"
#include "hmd_auth.h"
#include "hmd_console.h"
#include "hmd_http.h"
#include "hmd_recent.h"
#include "hmd_metrics.h"
#include "hmd_nats_fleet.h"
#include "hmd_repl.h"
#include "hmd_server.h"

static int s_sig_wr = -1;

static void s_on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    ssize_t w = write(s_sig_wr, &c, 1); /* full pipe: a signal is pending anyway */
    (void)w;
    errno = saved;
}

static int s_drop_privileges(const char *user)
{
    if (!user[0])
        return 0;
    if (geteuid() != 0) {
        hm_log_warn("privileges", "user=%s status=skipped reason=\"not root\"", user);
        return 0;
    }
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return hm__seterr(HM_E_CONFIG, "--user: no user '%s'", user);
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return hm__seterr(HM_E_DENIED, "--user %s: %s", user, strerror(errno));
    if (setuid(0) == 0)
        return hm__seterr(HM_E_DENIED, "--user %s: root could be regained", user);
    hm_log_info("privileges", "user=%s uid=%u gid=%u", user, (unsigned)pw->pw_uid,
                (unsigned)pw->pw_gid);
    return 0;
}

/* `hallmarkd --hash-password`: one line from stdin -> a crypto_pwhash_str
 * hash for the console's accounts file. */
static int s_hash_password(void)
{
    char pw[1100];
    if (!fgets(pw, sizeof pw, stdin) || sodium_init() < 0) {
        fprintf(stderr, "hallmarkd: no password on stdin\n");
        return 1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char *h = hmd_auth_hash_password(pw);
    sodium_memzero(pw, sizeof pw);
    if (!h)
        return 1;
    printf("%s\n", h);
    free(h);
    return 0;
}

/* The console's parts, when it is on: accounts, the retention ring (which
 * the workers feed) and the routes. */
static int s_console_open(const hmd_config_t *cfg, hmd_server_t *srv, hmd_auth_t **auth,
                          hmd_recent_t **recent, hmd_console_t **console)
{
    if (strcmp(cfg->console, "off") == 0)
        return 0;
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.max_bytes = (size_t)cfg->max_image;
    int rc = hmd_auth_new(auth, cfg->console_accounts);
    if (rc == 0)
        rc = hmd_recent_new(recent, cfg->console_retention, (size_t)cfg->console_retention_mib << 20,
                            cfg->console_genuine);
    if (rc == 0)
        rc = hmd_console_new(console, *recent, *auth, &lim);
    if (rc == 0)
        hmd_server_set_recent(srv, *recent);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, exit_now = 0, sigfd = -1;
    hmd_config_t *cfg = calloc(1, sizeof *cfg);
    hmd_metrics_t *m = NULL;
    hmd_server_t *srv = NULL;
    hmd_http_t *http = NULL, *chttp = NULL;
    hm_engine_t *e = NULL;
    hmd_auth_t *auth = NULL;
    hmd_recent_t *recent = NULL;
    hmd_console_t *console = NULL;
    hmd_repl_t *repl = NULL;
    hmd_fleet_t *fleet = NULL;
    if (!cfg)
        return 1;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (argc == 2 && strcmp(argv[1], "--hash-password") == 0) {
        free(cfg);
        return s_hash_password();
    }
    if ((rc = hmd_config_load(cfg, argc, argv, &exit_now)) != 0 || exit_now) {
        if (rc)
            fprintf(stderr, "hallmarkd: %s\n", hm_last_error());
        goto leave;
    }
    hm_log_set_level(hm_log_parse_level(cfg->log_level));
    if ((rc = hmd_fleet_prepare(cfg)) != 0)
        goto fail;
    int pfd[2];
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = hm__seterr(HM_E_INTERNAL, "pipe: %s", strerror(errno));
        goto fail;
    }
    sigfd = pfd[0];
    s_sig_wr = pfd[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* libvips starts its own threads: do it now, while the signals are blocked. */
    if ((rc = hm_decode_init()) != 0)
        goto fail;
    if ((rc = hmd_metrics_new(&m)) != 0)
        goto fail;
    if ((rc = hmd_server_open(&srv, cfg, m, sigfd)) != 0)
        goto fail;
    if ((rc = s_console_open(cfg, srv, &auth, &recent, &console)) != 0)
        goto fail;
    int shared = console && strcmp(cfg->console, "metrics") == 0;
    if (shared && strcmp(cfg->metrics, "off") == 0) {
        rc = hm__seterr(HM_E_CONFIG, "console = metrics needs the metrics server");
        goto fail;
    }
    if (strcmp(cfg->metrics, "off") != 0 &&
        (rc = hmd_http_start(&http, cfg->metrics, m, NULL, shared ? console : NULL)) != 0)
        goto fail;
    if (console && !shared && (rc = hmd_http_start(&chttp, cfg->console, NULL, NULL, console)) != 0)
        goto fail;
    if ((rc = s_drop_privileges(cfg->user)) != 0)
        goto fail;
    /* A replica first makes its copy continuable (a snapshot when needed). */
    if (cfg->replica_of[0] && (rc = hmd_replica_bootstrap(cfg, m)) != 0)
        goto fail;
    hm_engine_opts_t eo = { .readonly = 0, .strike_limit = cfg->strike_limit, .nosync = cfg->nosync,
                            .lf_stop_factor = cfg->lf_stop_factor ? cfg->lf_stop_factor : -1 };
    hm_lf_ref_set_keypoints(cfg->lf_keypoints); /* range-checked by the config table */
    if ((rc = hm_engine_open(&e, cfg->db, &eo)) != 0)
        goto fail;
    if (cfg->replica_of[0]) {
        if ((rc = hmd_replica_start(&repl, cfg, e, m)) != 0)
            goto fail;
        /* Serve only after the first catch-up; a silent primary leaves the
         * copy serving as it is, with /healthz at 503. */
        if (hmd_replica_wait(repl, cfg->replica_wait * 1000) != 0)
            hm_log_warn("replica", "status=behind reason=\"%s\"", hm_last_error());
    } else if ((cfg->repl[0] || cfg->repl_pub[0]) &&
               (rc = hmd_repl_primary_start(&repl, cfg, e, m)) != 0) {
        goto fail;
    }
    if (cfg->thresholds[0] && (rc = hm_engine_load_thresholds(e, cfg->thresholds)) != 0)
        goto fail;
    /* Fleet mode (nats-url): caught up on the bank stream before serving. */
    if (cfg->nats_url[0] && (rc = hmd_fleet_start(&fleet, cfg, e)) != 0)
        goto fail;
    hmd_http_set_engine(http, e);
    hmd_console_set_engine(console, e);
    if ((rc = hmd_server_start(srv, e)) != 0)
        goto fail;
    hm_log_info("ready", "db=%s ingest=%s pipeline_in=%s pipeline_out=%s feed=%s control=%s "
                "metrics=%s console=%s curve=%s pid=%d", cfg->db, cfg->ingest, cfg->pipeline_in,
                cfg->pipeline_out, cfg->feed, cfg->control, cfg->metrics, cfg->console,
                cfg->curve_secret_file[0] ? "on" : "off", (int)getpid());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    rc = hmd_server_run(srv);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc == HM_E_TIMEOUT) {
        /* Bounded shutdown: whatever is still running is abandoned. */
        hmd_server_close(&srv);
        hm_log_warn("exit", "status=forced");
        _exit(0);
    }
    goto leave;
fail:
    hm_log_error("startup", "code=%s msg=\"%s\"", hm_err_name(rc), hm_last_error());
    fprintf(stderr, "hallmarkd: %s\n", hm_last_error());
leave:
    /* Stop order: HTTP (reads the engine), the socket thread's world, engine. */
    hmd_http_stop(&http);
    hmd_http_stop(&chttp);
    hmd_repl_stop(&repl);
    hmd_fleet_stop(&fleet);
    if (hmd_server_close(&srv) != 0) {
        hm_log_warn("exit", "status=forced");
        _exit(rc ? 1 : 0);
    }
    hmd_console_free(&console);
    hmd_recent_free(&recent);
    hmd_auth_free(&auth);
    hm_engine_close(&e);
    hmd_metrics_free(&m);
    if (sigfd >= 0) {
        close(sigfd);
        close(s_sig_wr);
    }
    hmd_config_cleanup();
    free(cfg);
    if (hmd_repl_resync_needed()) {
        hm_log_warn("exit", "status=resync code=%d", HMD_REPL_EXIT_RESYNC);
        return HMD_REPL_EXIT_RESYNC;
    }
    if (rc == 0 && !exit_now)
        hm_log_info("exit", "status=ok");
    return rc ? 1 : 0;
}
