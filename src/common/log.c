#include "log.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum sc_log_level g_level = SC_LOG_INFO;

void sc_log_set_level(enum sc_log_level lvl) { g_level = lvl; }
enum sc_log_level sc_log_get_level(void) { return g_level; }

void sc_log(enum sc_log_level lvl, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (lvl > g_level)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(line, sizeof(line), "%ld.%03ld sidecore[%s] %s: ",
                     (long)ts.tv_sec, ts.tv_nsec / 1000000L, names[lvl], component);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

bool log_budget_take(struct log_budget *b, uint64_t now_ns, unsigned max, char *more,
                     size_t len)
{
    more[0] = 0;
    if (!b->since_ns || now_ns - b->since_ns >= 10000000000ull) {
        b->since_ns = now_ns;
        b->told = 0;
    }
    if (b->told >= max) {
        b->held++;
        return false;
    }
    if (b->held)
        snprintf(more, len, " (%u such line(s) held back before)", b->held);
    b->told++;
    b->held = 0;
    return true;
}
