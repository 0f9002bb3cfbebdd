/* Quiescing a polled queue from the control thread without stopping it
 * (vdev queue_quiesce / queue_settled). The control thread turns it on with
 * a new generation (sc_qz_set); the queue's poll reads the generation at the
 * start of a round (sc_qz_seen), takes no new work while it is non-zero,
 * and ends the round by publishing what it still holds with the generation
 * it saw (sc_qz_publish). sc_qz_hold then tells the control thread what the
 * queue held after a round that saw the current generation. */
#ifndef SC_QUIESCE_H
#define SC_QUIESCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sidecore.h"

enum sc_hold {
    SC_HOLD_NONE,    /* nothing: a stop would not wait */
    SC_HOLD_PARKED,  /* only requests parked on pages not resident (VPRI) */
    SC_HOLD_BUSY,    /* requests in a backend or not yet handed to it */
    SC_HOLD_UNKNOWN, /* no round has seen the current generation yet */
};

struct sc_quiesce {
    _Atomic uint32_t gen;  /* 0: off */
    _Atomic uint32_t ack;  /* generation of the last published hold */
    _Atomic uint8_t hold;  /* enum sc_hold */
    uint32_t last;         /* control thread: last generation used */
    uint64_t since_ns;     /* control thread: when it was turned on, 0: off */
};

/* Poller, at the start of a round: 0 when not quiesced. */
static inline uint32_t sc_qz_seen(struct sc_quiesce *z)
{
    return atomic_load_explicit(&z->gen, memory_order_acquire);
}

/* Poller, at the end of a round that saw seen != 0. */
static inline void sc_qz_publish(struct sc_quiesce *z, uint32_t seen, enum sc_hold h)
{
    atomic_store_explicit(&z->hold, (uint8_t)h, memory_order_relaxed);
    atomic_store_explicit(&z->ack, seen, memory_order_release);
}

/* Control thread: on (again: a new generation, the start time kept) or off;
 * wakes q's sidecore so that a round runs soon. */
void sc_qz_set(struct sc_quiesce *z, struct sc_queue *q, bool on);

/* Control thread, queue not attached (start, stop): off, without a wake. */
void sc_qz_clear(struct sc_quiesce *z);

/* Control thread: what the queue holds (SC_HOLD_NONE when not quiesced) and
 * how long it has been quiesced. */
enum sc_hold sc_qz_hold(struct sc_quiesce *z, uint64_t *waited_ns);

#endif
