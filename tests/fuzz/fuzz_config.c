/*
 * fuzz_config.c - libFuzzer target: hallmarkd's configuration file parsing
 * (hmd_config_parse_buf over the defaults), from arbitrary bytes.  A parsed
 * file must leave every string terminated and every number in its bounds,
 * and dump back to a file that parses again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hmd_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hmd_config_t c, c2;
    hmd_config_defaults(&c);
    int rc = hmd_config_parse_buf(&c, data, size, "fuzz.conf");
    if (rc != 0 && rc != HM_E_CONFIG)
        abort();
    if (rc != 0)
        return 0;
    if (!memchr(c.db, 0, sizeof c.db) || !memchr(c.user, 0, sizeof c.user) ||
        !memchr(c.log_level, 0, sizeof c.log_level))
        abort();
    if (c.workers < 0 || c.workers > 256 || c.queue < 1 || c.hwm < 1 || c.max_image < 1)
        abort();
    /* Round trip: what --dump-config writes reads back to the same config. */
    char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    hmd_config_dump(f, &c);
    fclose(f);
    hmd_config_defaults(&c2);
    if (hmd_config_parse_buf(&c2, buf, len, "dump") != 0) {
        fprintf(stderr, "dump does not parse: %s\n%s\n", hm_last_error(), buf);
        abort();
    }
    if (!(f = open_memstream(&buf2, &len2)))
        abort();
    hmd_config_dump(f, &c2);
    fclose(f);
    if (len != len2 || memcmp(buf, buf2, len) != 0)
        abort();
    free(buf);
    free(buf2);
    return 0;
}
