/* test_error.c - the error table: every code has a name and a text. */
#include <errno.h>
#include <string.h>

#include "hm_error.h"
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

Suite *hm_suite_error(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_every_code_named);
    tcase_add_test(tc, test_last_error);
    suite_add_tcase(s, tc);
    return s;
}
