/*
 * hm_cli_csv.h - CSV records as RFC 4180 defines them: fields separated by
 * commas, records by CRLF or LF; a field in double quotes may hold commas,
 * quotes (doubled: "") and line breaks.  Used for te-csv hash lists.
 *
 * Thread safety: a reader belongs to one thread.
 */
#ifndef HM_CLI_CSV_H
#define HM_CLI_CSV_H

#include <stddef.h>
#include <stdio.h>

#define HM_CSV_MAX_FIELDS 64
#define HM_CSV_MAX_RECORD (1u << 20)

typedef struct hm_cli_csv {
    FILE *f;
    size_t line;            /* physical line where the last record started (from 1) */
    size_t next_line;
    char *buf;              /* the record's fields, NUL-separated */
    size_t cap;
    char *field[HM_CSV_MAX_FIELDS];
    size_t n_fields;
} hm_cli_csv_t;

void hm_cli_csv_init(hm_cli_csv_t *c, FILE *f);
void hm_cli_csv_free(hm_cli_csv_t *c);
/*
 * hm_cli_csv_next - read the next record into c->field[0..n_fields).
 * @return 1 a record, 0 end of input, HM_E_CORRUPT (a stray quote, an
 *         unterminated quoted field: the rest of that record is skipped),
 *         HM_E_TOO_LARGE (more than HM_CSV_MAX_FIELDS fields or a record
 *         over HM_CSV_MAX_RECORD bytes), HM_E_NOMEM.
 */
int hm_cli_csv_next(hm_cli_csv_t *c);
/* Write one field, quoted when it holds a comma, quote, CR, LF or starts or
 * ends with a space. */
void hm_cli_csv_put(FILE *f, const char *s);

#endif
