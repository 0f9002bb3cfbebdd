/* Logging: one line per event on stderr, "sidecore[<level>] <component>: message".
 * Thread-safe (one write(2) per line). Level set once at start-up. */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sc_log_level { SC_LOG_ERR = 0, SC_LOG_WARN, SC_LOG_INFO, SC_LOG_DEBUG };

void sc_log_set_level(enum sc_log_level lvl);
enum sc_log_level sc_log_get_level(void);
void sc_log(enum sc_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lines about what a peer may repeat at will (joins, refusals): at most max
 * per 10 s. log_budget_take says whether this one is written, and puts in
 * more (for the line's end, "" when none) how many were held back before
 * it. One thread per budget. */
struct log_budget {
    uint64_t since_ns;
    unsigned told, held;
};
bool log_budget_take(struct log_budget *b, uint64_t now_ns, unsigned max, char *more,
                     size_t len);

#define LOG_ERR(comp, ...) sc_log(SC_LOG_ERR, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...) sc_log(SC_LOG_WARN, comp, __VA_ARGS__)
#define LOG_INFO(comp, ...) sc_log(SC_LOG_INFO, comp, __VA_ARGS__)
#define LOG_DEBUG(comp, ...)                                                  \
    do {                                                                      \
        if (sc_log_get_level() >= SC_LOG_DEBUG)                               \
            sc_log(SC_LOG_DEBUG, comp, __VA_ARGS__);                          \
    } while (0)

#endif
