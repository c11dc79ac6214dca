/*
 * fuzz_control.c - libFuzzer target: the control thread's command parsing
 * and validation (hmd_control_check: the same code path as a live daemon,
 * without an engine), from arbitrary bytes.
 *
 * Input layout: byte 0 bit 0 = a data frame is present, byte 1 = the data
 * frame's length (taken from the end of the input), the rest = the command.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_log.h"
#include "hmd_control.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hm_log_set_level(HM_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int has_data = data[0] & 1;
    size_t dlen = has_data ? data[1] : 0;
    data += 2;
    size -= 2;
    if (dlen > size)
        dlen = size;
    int ok = -1;
    char *reply = hmd_control_check(data, size - dlen, data + size - dlen, dlen, has_data, &ok);
    if (!reply || (ok != 0 && ok != 1))
        abort();
    json_t *j = json_loads(reply, 0, NULL);
    /* The reply is JSON, and its "ok" says what the return said. */
    if (!j || json_is_true(json_object_get(j, "ok")) != ok)
        abort();
    json_decref(j);
    free(reply);
    return 0;
}
