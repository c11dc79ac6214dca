/* hm_error.c - the error table's texts and the per-thread last message. */
#include "hm_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The documented errno-like contract: one message per thread, with the code
 * it was recorded for. */
static _Thread_local char s_msg[512];
static _Thread_local int s_msg_rc;

const char *hm_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
#define HM__ERR_TEXT(name, value, code, text) case value: return text;
    HM_ERROR_TABLE(HM__ERR_TEXT)
#undef HM__ERR_TEXT
    default: break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}

const char *hm_err_name(int rc)
{
    switch (rc) {
    case 0: return "ok";
#define HM__ERR_NAME(name, value, code, text) case value: return code;
    HM_ERROR_TABLE(HM__ERR_NAME)
#undef HM__ERR_NAME
    default: break;
    }
    return "system";
}

int hm_error_set(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_msg, sizeof s_msg, fmt, ap);
    va_end(ap);
    s_msg_rc = rc;
    return rc;
}

void hm_error_clear(void)
{
    s_msg[0] = '\0';
    s_msg_rc = 0;
}

const char *hm_last_error(void)
{
    if (s_msg[0])
        return s_msg;
    return hm_strerror(s_msg_rc);
}

const char *hm_error_message(int rc)
{
    if (rc != 0 && rc == s_msg_rc && s_msg[0])
        return s_msg;
    return hm_strerror(rc);
}
