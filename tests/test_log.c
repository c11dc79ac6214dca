/* test_log.c - log lines: values escaped, journald priority prefixes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_log.h"
#include "test_util.h"

/* Run one log call with stderr sent to a temporary file; return what it wrote. */
#define S_CAPTURE(buf, call)                                                     \
    do {                                                                         \
        char tmpl_[] = "/tmp/hm-log-XXXXXX";                                     \
        int fd_ = mkstemp(tmpl_);                                                \
        ck_assert_int_ge(fd_, 0);                                                \
        unlink(tmpl_);                                                           \
        fflush(stderr);                                                          \
        int saved_ = dup(STDERR_FILENO);                                         \
        ck_assert_int_ge(dup2(fd_, STDERR_FILENO), 0);                           \
        call;                                                                    \
        dup2(saved_, STDERR_FILENO);                                             \
        close(saved_);                                                           \
        ssize_t n_ = pread(fd_, (buf), sizeof(buf) - 1, 0);                      \
        close(fd_);                                                              \
        ck_assert_int_gt(n_, 0);                                                 \
        (buf)[n_] = '\0';                                                        \
    } while (0)

static size_t s_count(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* A peer's request_id with a newline and a quote stays inside its value:
 * one line, the quote escaped, no forged "level=" field of its own. */
START_TEST(test_forged_line)
{
    char out[2048];
    S_CAPTURE(out, hm_log_error("request_failed", "request_id=\"%s\" code=%d",
                                "r1\" level=info event=ok\nforged=1", 7));
    ck_assert_uint_eq(s_count(out, '\n'), 1);
    ck_assert_ptr_nonnull(strstr(out, "request_id=\"r1\\\" level=info event=ok\\nforged=1\" code=7\n"));
    ck_assert_ptr_null(strstr(out, "\nforged"));
}
END_TEST

/* Unquoted values that would split are quoted; backslashes, control bytes
 * and invalid UTF-8 are escaped; valid UTF-8 and numbers pass as they are. */
START_TEST(test_values_escaped)
{
    char out[2048];
    S_CAPTURE(out, hm_log_error("ev", "a=%s b=%s c=\"%s\" d=%s e=%zu f=%.2f g=%llu h=\"%.3s\"",
                                "x y", "", "\\ \t\x01\xff caf\xc3\xa9", "plain", (size_t)42,
                                1.5, 12345678901ULL, "abcdef"));
    ck_assert_uint_eq(s_count(out, '\n'), 1);
    ck_assert_ptr_nonnull(strstr(out, " a=\"x y\" b=\"\" c=\"\\\\ \\t\\x01\\xff caf\xc3\xa9\" "
                                      "d=plain e=42 f=1.50 g=12345678901 h=\"abc\"\n"));
    /* an overlong value is cut, the line still ends once */
    char big[4000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    S_CAPTURE(out, hm_log_error("ev", "v=\"%s\"", big));
    ck_assert_uint_eq(s_count(out, '\n'), 1);
    ck_assert_uint_le(strlen(out), 1024);
}
END_TEST

/* With stderr as journald's stream, lines carry the sd-daemon priority; a
 * JOURNAL_STREAM naming another file, or none, gives plain lines. */
START_TEST(test_journal_prefix)
{
    char out[2048], env[64];
    char tmpl[] = "/tmp/hm-log-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    struct stat st;
    ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    int on = hm_log_detect_journal();
    hm_log_error("e1", "k=1");
    hm_log_warn("e2", "k=2");
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", env, 1);
    int off = hm_log_detect_journal();
    hm_log_error("e3", "k=3");
    dup2(saved, STDERR_FILENO);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    hm_log_detect_journal();
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_int_eq(on, 1);
    ck_assert_int_eq(off, 0);
    ck_assert_msg(strncmp(out, "<3>", 3) == 0, "first line: %s", out);
    char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    ck_assert_msg(strncmp(l2, "<4>", 3) == 0, "second line: %s", l2);
    ck_assert_msg(l3[0] >= '0' && l3[0] <= '9', "third line: %s", l3);
    ck_assert_ptr_nonnull(strstr(l3, "event=e3 k=3\n"));
}
END_TEST

Suite *hm_suite_log(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("lines");
    tcase_add_test(tc, test_forged_line);
    tcase_add_test(tc, test_values_escaped);
    tcase_add_test(tc, test_journal_prefix);
    suite_add_tcase(s, tc);
    return s;
}
