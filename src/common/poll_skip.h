/* Receive pacing for a polled fd whose receive is a syscall (tap, UDP
 * sockets): after an empty receive the next polls skip it, up to `polls`
 * polls but never longer than `ns`. Counting polls alone is not enough:
 * when sidecores share a CPU every idle round yields to the other poller,
 * so a round lasts microseconds and a skip of 16 polls became a wait of
 * 100-200 us per packet (remote-compare net request-response). One thread
 * per skip. */
#ifndef SC_POLL_SKIP_H
#define SC_POLL_SKIP_H

#include <stdbool.h>
#include <stdint.h>

struct poll_skip {
    unsigned polls;
    uint64_t until;
};

/* True while this poll should not receive. */
static inline bool poll_skip_now(struct poll_skip *s, uint64_t now)
{
    if (!s->polls)
        return false;
    if (now >= s->until) {
        s->polls = 0;
        return false;
    }
    s->polls--;
    return true;
}

/* The fd had nothing at now. */
static inline void poll_skip_idle(struct poll_skip *s, unsigned polls, uint64_t ns, uint64_t now)
{
    s->polls = polls;
    s->until = now + ns;
}

/* Look at the fd on the next poll (the sidecore is about to sleep or wake). */
static inline void poll_skip_reset(struct poll_skip *s)
{
    s->polls = 0;
}

#endif
