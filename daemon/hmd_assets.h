/*
 * hmd_assets.h - the console's static files, compiled into the binary: the
 * console never opens a file to answer a request, so no path in a URL can
 * reach the file system.
 */
#ifndef HMD_ASSETS_H
#define HMD_ASSETS_H

#include <stddef.h>

typedef struct hmd_asset {
    const char *path;   /* "/static/console.css" */
    const char *type;   /* Content-Type */
    const char *body;   /* static */
} hmd_asset_t;

/* The asset for url, or NULL.  Exact match only. */
const hmd_asset_t *hmd_asset_find(const char *url);

#endif
