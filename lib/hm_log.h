/*
 * hm_log.h - one line per event on stderr: "ts level=info event=... k=v ...".
 *
 * The level is tested before anything is formatted, so a disabled log line
 * costs one load and one compare.  The level starts from the environment
 * variable HM_LOG (error|warn|info|debug; default info) and can be changed with
 * hm_log_set_level().  Lines are written with a single write(2), so lines from
 * different threads do not interleave.  Under systemd (stderr is journald's
 * stream) each line starts with its sd-daemon priority prefix.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef HM_LOG_H
#define HM_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum hm_log_level { HM_LOG_ERROR = 0, HM_LOG_WARN = 1, HM_LOG_INFO = 2, HM_LOG_DEBUG = 3 };

/* Read and written with relaxed atomics (__atomic builtins, usable from C and
 * C++): SIGHUP changes the level while other threads log. */
extern int hm__log_level;

/*
 * hm_log_detect_journal - look again whether stderr is journald's stream
 * (JOURNAL_STREAM names stderr's device and inode, systemd.exec(5)); while
 * it is, every line starts with its sd-daemon priority ("<3>" error, "<4>"
 * warn, "<6>" info, "<7>" debug) so journald files it at that level.  Done
 * at start-up; call it again after redirecting stderr.  @return 1 or 0.
 */
int hm_log_detect_journal(void);

/* Set the level; returns the previous one. */
int hm_log_set_level(int level);
/* Parse "error", "warn", "info", "debug"; -1 when unknown. */
int hm_log_parse_level(const char *name);

/* Internal: format and write one line (the event name, then k=v fields). */
void hm__log(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * HM_LOG(level, "event", "key=%d other=\"%s\"", ...) - fields in key=value
 * form, printf conversions.  Every %s (and %c) value is escaped: inside the
 * format's quotes '"', '\\', control bytes and invalid UTF-8 become \" \\
 * \n \r \t \xNN; an unquoted value that is empty or holds a blank, '"',
 * '=', '\\' or a non-ASCII byte is quoted and escaped.  So a value never
 * ends the line or adds a field.  Lines are cut at 1023 bytes.
 */
#define HM_LOG(level, event, ...)                                              \
    do {                                                                       \
        if ((level) <= __atomic_load_n(&hm__log_level, __ATOMIC_RELAXED))     \
            hm__log((level), (event), __VA_ARGS__);                            \
    } while (0)

#define hm_log_error(event, ...) HM_LOG(HM_LOG_ERROR, event, __VA_ARGS__)
#define hm_log_warn(event, ...)  HM_LOG(HM_LOG_WARN, event, __VA_ARGS__)
#define hm_log_info(event, ...)  HM_LOG(HM_LOG_INFO, event, __VA_ARGS__)
#define hm_log_debug(event, ...) HM_LOG(HM_LOG_DEBUG, event, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
