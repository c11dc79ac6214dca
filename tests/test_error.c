/* test_error.c - the error table: every code has a name and a text. */
#include <errno.h>
#include <string.h>

#include "hm_error.h"
#include "hm_fp.h"
#include "test_util.h"

START_TEST(test_every_code_named)
{
    static const int codes[] = {
#define X(name, value, code, text) name,
        HM_ERROR_TABLE(X)
#undef X
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ck_assert_int_lt(codes[i], 0);
        ck_assert_str_ne(hm_strerror(codes[i]), "unknown error");
        ck_assert_str_ne(hm_err_name(codes[i]), "system");
        for (size_t j = 0; j < i; j++)
            ck_assert_int_ne(codes[i], codes[j]);
    }
    ck_assert_str_eq(hm_err_name(0), "ok");
    ck_assert_str_eq(hm_err_name(HM_E_TOO_LARGE), "too_large");
    ck_assert_str_eq(hm_strerror(-ENOENT), strerror(ENOENT));
    ck_assert_str_eq(hm_err_name(-ENOENT), "system");
    ck_assert_str_eq(hm_strerror(12345), "unknown error");
}
END_TEST

START_TEST(test_last_error)
{
    hm__clearerr();
    ck_assert_str_eq(hm_last_error(), "success");
    ck_assert_int_eq(hm__seterr(HM_E_CORRUPT, "bad %s at %d", "marker", 7), HM_E_CORRUPT);
    ck_assert_str_eq(hm_last_error(), "bad marker at 7");
}
END_TEST

/* The message read with the code is that code's: a message recorded for
 * another failure earlier on this thread is never shown with it. */
START_TEST(test_message_for_code)
{
    hm_error_clear();
    ck_assert_str_eq(hm_error_message(0), "success");
    ck_assert_int_eq(hm_error_set(HM_E_CORRUPT, "bad %s", "marker"), HM_E_CORRUPT);
    ck_assert_str_eq(hm_error_message(HM_E_CORRUPT), "bad marker");
    /* a bare `return HM_E_NOMEM` after it: the stale text is not reported */
    ck_assert_str_eq(hm_error_message(HM_E_NOMEM), hm_strerror(HM_E_NOMEM));
    ck_assert_str_eq(hm_error_message(-ENOENT), strerror(ENOENT));
    ck_assert_str_eq(hm_error_message(0), "success");
    /* the deprecated spelling records the same way */
    ck_assert_int_eq(hm__seterr(HM_E_IO, "disk %d", 3), HM_E_IO);
    ck_assert_str_eq(hm_error_message(HM_E_IO), "disk 3");
    hm__clearerr();
    ck_assert_str_eq(hm_error_message(HM_E_IO), hm_strerror(HM_E_IO));
    /* long messages are cut, never overflow */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(hm_error_set(HM_E_INVAL, "%s", big), HM_E_INVAL);
    ck_assert_uint_eq(strlen(hm_error_message(HM_E_INVAL)), 511);
}
END_TEST

/* A library failure records its own message with its own code. */
START_TEST(test_lib_failure_pairs)
{
    hm_error_set(HM_E_IO, "an older failure");
    hm_fp_t fp;
    uint8_t junk[16] = { 0 };
    int rc = hm_fp_deserialize(junk, sizeof junk, &fp);
    ck_assert_int_eq(rc, HM_E_CORRUPT);
    ck_assert_str_ne(hm_error_message(rc), "an older failure");
    ck_assert_str_ne(hm_error_message(rc), hm_strerror(rc)); /* a specific text */
}
END_TEST

Suite *hm_suite_error(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_every_code_named);
    tcase_add_test(tc, test_last_error);
    tcase_add_test(tc, test_message_for_code);
    tcase_add_test(tc, test_lib_failure_pairs);
    suite_add_tcase(s, tc);
    return s;
}
