/*
 * hm_cli_csv.c - an RFC 4180 record reader and field writer.
 *
 * A character-level state machine: FIELD_START, UNQUOTED, QUOTED, and
 * QUOTE_IN_QUOTED (saw '"' inside quotes: either "" or the closing quote).
 * Errors are reported for the record that has them and reading resumes at
 * the next line break outside quotes, so one bad row costs one row.
 */
#include "hm_cli_csv.h"

#include <stdlib.h>
#include <string.h>

#include "hm_error.h"

void hm_cli_csv_init(hm_cli_csv_t *c, FILE *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->next_line = 1;
}

void hm_cli_csv_free(hm_cli_csv_t *c)
{
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };

int hm_cli_csv_next(hm_cli_csv_t *c)
{
    size_t len = 0;
    int state = FIELD_START, ch, err = 0;
    size_t starts[HM_CSV_MAX_FIELDS];
    c->n_fields = 0;
    c->line = c->next_line;
    starts[0] = 0;
    size_t nf = 1;
    int any = 0;
    for (;;) {
        ch = getc(c->f);
        if (ch == EOF) {
            if (!any)
                return 0;
            if (state == QUOTED && !err)
                err = hm__seterr(HM_E_CORRUPT, "line %zu: unterminated quoted field", c->line);
            break;
        }
        any = 1;
        if (ch == '\n')
            c->next_line++;
        if (state == QUOTED) {
            if (ch == '"')
                state = QUOTE_IN_QUOTED;
            else
                goto put;
            continue;
        }
        if (state == QUOTE_IN_QUOTED) {
            if (ch == '"') {
                state = QUOTED; /* "" is one quote */
                goto put;
            }
            state = UNQUOTED; /* the closing quote; only , or a line end may follow */
            if (ch != ',' && ch != '\n' && ch != '\r' && !err)
                err = hm__seterr(HM_E_CORRUPT, "line %zu: text after a closing quote", c->line);
        }
        if (ch == '\r') {
            int nx = getc(c->f);
            if (nx != '\n' && nx != EOF)
                ungetc(nx, c->f);
            if (nx == '\n')
                c->next_line++;
            break;
        }
        if (ch == '\n')
            break;
        if (ch == ',') {
            if (len + 1 > c->cap) {
                size_t nc = c->cap ? 2 * c->cap : 256;
                char *nb = realloc(c->buf, nc);
                if (!nb)
                    return hm__seterr(HM_E_NOMEM, "csv record");
                c->buf = nb;
                c->cap = nc;
            }
            c->buf[len++] = 0;
            if (nf == HM_CSV_MAX_FIELDS) {
                if (!err)
                    err = hm__seterr(HM_E_TOO_LARGE, "line %zu: more than %d fields", c->line,
                                     HM_CSV_MAX_FIELDS);
            } else {
                starts[nf++] = len;
            }
            state = FIELD_START;
            continue;
        }
        if (ch == '"') {
            if (state == FIELD_START) {
                state = QUOTED;
                continue;
            }
            if (!err)
                err = hm__seterr(HM_E_CORRUPT, "line %zu: a quote inside an unquoted field", c->line);
        }
        if (state == FIELD_START)
            state = UNQUOTED;
    put:
        if (len + 2 > c->cap) {
            if (c->cap >= HM_CSV_MAX_RECORD) {
                if (!err)
                    err = hm__seterr(HM_E_TOO_LARGE, "line %zu: record over %u bytes", c->line,
                                     HM_CSV_MAX_RECORD);
                continue;
            }
            size_t nc = c->cap ? 2 * c->cap : 256;
            char *nb = realloc(c->buf, nc);
            if (!nb)
                return hm__seterr(HM_E_NOMEM, "csv record");
            c->buf = nb;
            c->cap = nc;
        }
        c->buf[len++] = (char)ch;
    }
    if (!c->buf || len + 1 > c->cap) {
        char *nb = realloc(c->buf, len + 1);
        if (!nb)
            return hm__seterr(HM_E_NOMEM, "csv record");
        c->buf = nb;
        c->cap = len + 1;
    }
    c->buf[len] = 0;
    if (err)
        return err;
    for (size_t i = 0; i < nf; i++)
        c->field[i] = c->buf + starts[i];
    c->n_fields = nf;
    return 1;
}

void hm_cli_csv_put(FILE *f, const char *s)
{
    size_t n = strlen(s);
    int quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
