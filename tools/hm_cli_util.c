/*
 * hm_cli_util.c - shared pieces of the hallmark subcommands: JSON Lines out,
 * error lines, file reading and input expansion.
 *
 * Input expansion rules (docs/CLI.md repeats them for users):
 *   - a path named on the command line or in a list is opened as given;
 *     a symlink named there is followed (like find -H);
 *   - a directory is walked recursively, entries sorted by name (strcmp
 *     order, so runs are reproducible), regular files only; symlinks met
 *     inside are skipped unless --follow, which also guards against loops;
 *   - relative list entries are resolved against the list file's directory
 *     (stdin lists: the working directory), so a list moves with its files;
 *   - with --root DIR, list and stdin entries whose real path lies outside
 *     DIR (absolute paths, "..", symlinks) become "denied" error lines.
 */
#include "hm_cli_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_util.h"

static pthread_mutex_t s_out_lock = PTHREAD_MUTEX_INITIALIZER;

void hm_cli_emit(json_t *o)
{
    if (!o)
        return;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) {
        fprintf(stderr, "hallmark: out of memory writing a line\n");
        return;
    }
    pthread_mutex_lock(&s_out_lock);
    fputs(s, stdout);
    fputc('\n', stdout);
    /* Flush every line: consumers (pipes, Hadoop, tests) read line by line. */
    fflush(stdout);
    pthread_mutex_unlock(&s_out_lock);
    free(s);
}

json_t *hm_cli_error_obj(int rc, const char *msg)
{
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(hm_err_name(rc)));
    json_t *m = json_string(msg ? msg : hm_last_error());
    json_object_set_new(e, "message", m ? m : json_string(hm_strerror(rc)));
    return e;
}

void hm_cli_emit_error(const char *file, int rc, const char *msg)
{
    json_t *o = json_object();
    if (file) {
        json_t *f = json_string(file);
        json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
    }
    json_object_set_new(o, "error", hm_cli_error_obj(rc, msg));
    hm_cli_emit(o);
}

int hm_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hallmark %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(try: hallmark %s --help)\n", cmd);
    va_end(ap);
    return HM_CLI_USAGE;
}

static int s_errno_rc(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR: return HM_E_NOTFOUND;
    case EACCES:
    case EPERM: return HM_E_DENIED;
    case ENOMEM: return HM_E_NOMEM;
    case EISDIR: return HM_E_INVAL;
    default: return HM_E_IO;
    }
}

int hm_cli_read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    uint8_t *buf = NULL;
    int rc = 0;
    /* O_NONBLOCK: a FIFO named by mistake must not hang the run. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return hm__seterr(s_errno_rc(errno), "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = hm__seterr(HM_E_IO, "%s: %s", path, strerror(errno));
        goto leave;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = hm__seterr(HM_E_INVAL, "%s: not a regular file", path);
        goto leave;
    }
    if ((uint64_t)st.st_size > HM_CLI_MAX_FILE) {
        rc = hm__seterr(HM_E_TOO_LARGE, "%s: %lld bytes, more than the limit %u", path,
                        (long long)st.st_size, HM_CLI_MAX_FILE);
        goto leave;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    buf = malloc(cap ? cap : 1);
    if (!buf) {
        rc = hm__seterr(HM_E_NOMEM, "%s: %zu bytes", path, cap);
        goto leave;
    }
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = hm__seterr(s_errno_rc(errno), "%s: %s", path, strerror(errno));
            goto leave;
        }
        if (r == 0)
            break; /* shrank while reading: take what is there */
        n += (size_t)r;
    }
    *data = buf;
    *len = n;
    buf = NULL;
leave:
    free(buf);
    close(fd);
    return rc;
}

int hm_cli_ncores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int hm_cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

double hm_cli_now(void)
{
    return hm_mono_s();
}

/* ---- inputs ---- */

static int s_push(hm_cli_inputs_t *in, const char *path, int err, const char *msg)
{
    if (in->n == in->cap) {
        size_t nc = in->cap ? in->cap * 2 : 64;
        hm_cli_input_t *nv = realloc(in->v, nc * sizeof *nv);
        if (!nv)
            return hm__seterr(HM_E_NOMEM, "input list");
        in->v = nv;
        in->cap = nc;
    }
    hm_cli_input_t *it = &in->v[in->n];
    it->path = strdup(path);
    it->err = err;
    it->msg = msg ? strdup(msg) : NULL;
    if (!it->path || (msg && !it->msg))
        return hm__seterr(HM_E_NOMEM, "input list");
    in->n++;
    return 0;
}

static int s_push_err(hm_cli_inputs_t *in, const char *path, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_push_err(hm_cli_inputs_t *in, const char *path, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s_push(in, path, err, msg);
}

typedef struct walk {
    hm_cli_inputs_t *in;
    int follow;
    const char *root;    /* realpath of --root for walks from list entries, or NULL */
    dev_t dev[64];       /* directories on the current path, for loops */
    ino_t ino[64];
    int depth;
} walk_t;

static int s_cmp_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int s_skip_dots(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* 1 when path does not resolve to root or below it (or does not resolve). */
static int s_outside(const char *path, const char *root)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return 1;
    size_t rl = strlen(root);
    return !(strncmp(real, root, rl) == 0 && (real[rl] == '/' || real[rl] == 0 || rl == 1));
}

static int s_walk(walk_t *w, const char *dir, const struct stat *dst)
{
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == dst->st_dev && w->ino[i] == dst->st_ino)
            return s_push_err(w->in, dir, HM_E_INVAL, "%s: directory loop (through a symlink)", dir);
    if (w->depth == (int)(sizeof w->dev / sizeof w->dev[0]))
        return s_push_err(w->in, dir, HM_E_INVAL, "%s: directories nested too deep", dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, s_skip_dots, s_cmp_names);
    if (n < 0)
        return s_push_err(w->in, dir, s_errno_rc(errno), "%s: %s", dir, strerror(errno));
    w->dev[w->depth] = dst->st_dev;
    w->ino[w->depth] = dst->st_ino;
    w->depth++;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char path[PATH_MAX];
            size_t dl = strlen(dir);
            int k = snprintf(path, sizeof path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/",
                             names[i]->d_name);
            struct stat st;
            int take = 0;
            if (k < 0 || (size_t)k >= sizeof path)
                rc = s_push_err(w->in, names[i]->d_name, HM_E_INVAL, "%s/%s: path too long", dir,
                                names[i]->d_name);
            else if (lstat(path, &st) != 0)
                rc = s_push_err(w->in, path, s_errno_rc(errno), "%s: %s", path, strerror(errno));
            else if (!S_ISLNK(st.st_mode))
                take = 1;
            else if (!w->follow)
                ; /* skipped: symlinks inside directories need --follow */
            else if (stat(path, &st) != 0)
                rc = s_push_err(w->in, path, s_errno_rc(errno), "%s: %s", path, strerror(errno));
            else if (w->root && s_outside(path, w->root))
                /* --follow in a walk from a confined list entry: stay under --root */
                rc = s_push_err(w->in, path, HM_E_DENIED, "%s: symlink leads outside --root %s",
                                path, w->root);
            else
                take = 1;
            if (rc == 0 && take) {
                if (S_ISDIR(st.st_mode))
                    rc = s_walk(w, path, &st);
                else if (S_ISREG(st.st_mode))
                    rc = s_push(w->in, path, 0, NULL);
                /* other file types (sockets, FIFOs, devices) are not images */
            }
        }
        free(names[i]);
    }
    free(names);
    w->depth--;
    return rc;
}

/* One path from the command line or a list. */
static int s_add(hm_cli_inputs_t *in, const char *path, const hm_cli_inputs_opts_t *o,
                 const char *root_real)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        walk_t w = { .in = in, .follow = o->follow, .root = root_real };
        return s_walk(&w, path, &st);
    }
    return s_push(in, path, 0, NULL); /* errors show when it is read, in order */
}

/* A list entry: resolve against base (the list's directory), confine to root. */
static int s_add_entry(hm_cli_inputs_t *in, const char *entry, const char *base,
                       const char *root_real, const hm_cli_inputs_opts_t *o)
{
    char path[PATH_MAX];
    int k = (entry[0] == '/' || !base) ? snprintf(path, sizeof path, "%s", entry)
                                       : snprintf(path, sizeof path, "%s/%s", base, entry);
    if (k < 0 || (size_t)k >= sizeof path)
        return s_push_err(in, entry, HM_E_INVAL, "%s: path too long", entry);
    if (root_real) {
        char real[PATH_MAX];
        if (!realpath(path, real))
            return s_push_err(in, path, s_errno_rc(errno), "%s: %s", path, strerror(errno));
        size_t rl = strlen(root_real);
        if (!(strncmp(real, root_real, rl) == 0 && (real[rl] == '/' || real[rl] == 0 || rl == 1)))
            return s_push_err(in, path, HM_E_DENIED, "%s: outside --root %s", path, root_real);
    }
    return s_add(in, path, o, root_real);
}

static int s_read_list(hm_cli_inputs_t *in, FILE *f, const char *base, const char *root_real,
                       const hm_cli_inputs_opts_t *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue; /* blank lines and comments */
        rc = s_add_entry(in, line, base, root_real, o);
    }
    free(line);
    return rc;
}

int hm_cli_inputs_collect(hm_cli_inputs_t *in, char *const *args, int n,
                          const hm_cli_inputs_opts_t *o)
{
    char root_real[PATH_MAX], *rootp = NULL;
    int rc = 0;
    if (o->root) {
        if (!realpath(o->root, root_real))
            return hm__seterr(s_errno_rc(errno), "--root %s: %s", o->root, strerror(errno));
        rootp = root_real;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        if (strcmp(args[i], "-") == 0)
            rc = s_read_list(in, stdin, NULL, rootp, o);
        else
            rc = s_add(in, args[i], o, NULL);
    }
    if (rc == 0 && o->list) {
        FILE *f = fopen(o->list, "r");
        if (!f)
            return hm__seterr(s_errno_rc(errno), "--list %s: %s", o->list, strerror(errno));
        char base[PATH_MAX];
        snprintf(base, sizeof base, "%s", o->list);
        char *slash = strrchr(base, '/');
        if (slash)
            *(slash == base ? slash + 1 : slash) = 0;
        rc = s_read_list(in, f, slash ? base : NULL, rootp, o);
        fclose(f);
    }
    return rc;
}

void hm_cli_inputs_free(hm_cli_inputs_t *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->v[i].path);
        free(in->v[i].msg);
    }
    free(in->v);
    memset(in, 0, sizeof *in);
}

void hm_cli_strip_ext(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", path);
    char *slash = strrchr(buf, '/');
    char *dot = strrchr(slash ? slash + 1 : buf, '.');
    if (dot && dot != (slash ? slash + 1 : buf))
        *dot = 0;
}

void hm_cli_stem(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    hm_cli_strip_ext(slash ? slash + 1 : path, buf, cap);
}

/* ---- shared options ---- */

const char hm_cli_input_help[] =
    "inputs: FILE, DIR (recursive, sorted by name, regular files only), '-' (a list\n"
    "of paths on stdin), --list FILE (one path per line; relative entries are\n"
    "resolved against the list's directory; blank lines and '#' lines skipped)\n"
    "  -j, --jobs N     parallel workers (default: the number of cores)\n"
    "      --list FILE  read input paths from FILE\n"
    "      --follow     follow symlinks found inside directories (default: skip them)\n"
    "      --root DIR   list and stdin entries must resolve inside DIR (else 'denied')\n"
    "  -h, --help       this text\n";

void hm_cli_common_init(hm_cli_common_t *co)
{
    memset(co, 0, sizeof *co);
    co->jobs = hm_cli_ncores();
}

int hm_cli_common_opt(const char *cmd, int c, const char *arg, hm_cli_common_t *co)
{
    long v;
    switch (c) {
    case 'j':
        if (hm_cli_parse_int(arg, 1, 256, &v))
            return hm_cli_usage_error(cmd, "--jobs wants a number from 1 to 256, not '%s'", arg);
        co->jobs = (int)v;
        return 1;
    case HM_OPT_LIST: co->in.list = arg; return 1;
    case HM_OPT_FOLLOW: co->in.follow = 1; return 1;
    case HM_OPT_ROOT: co->in.root = arg; return 1;
    default: return 0;
    }
}

int hm_cli_check_root(const char *root, const char *path)
{
    if (!root)
        return 0;
    char rr[PATH_MAX], real[PATH_MAX];
    if (!realpath(root, rr))
        return hm__seterr(s_errno_rc(errno), "--root %s: %s", root, strerror(errno));
    if (!realpath(path, real))
        return hm__seterr(s_errno_rc(errno), "%s: %s", path, strerror(errno));
    size_t rl = strlen(rr);
    if (strncmp(real, rr, rl) == 0 && (real[rl] == '/' || real[rl] == 0 || rl == 1))
        return 0;
    return hm__seterr(HM_E_DENIED, "%s: outside --root %s", path, rr);
}
