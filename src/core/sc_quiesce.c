#include "sc_quiesce.h"

#include "../common/util.h"

void sc_qz_set(struct sc_quiesce *z, struct sc_queue *q, bool on)
{
    if (on) {
        z->last = z->last + 1 ? z->last + 1 : 1;
        if (!z->since_ns)
            z->since_ns = sc_now_ns();
        atomic_store_explicit(&z->gen, z->last, memory_order_release);
    } else {
        z->since_ns = 0;
        atomic_store_explicit(&z->gen, 0, memory_order_release);
    }
    sc_wake(q);
}

void sc_qz_clear(struct sc_quiesce *z)
{
    z->since_ns = 0;
    atomic_store_explicit(&z->gen, 0, memory_order_release);
}

enum sc_hold sc_qz_hold(struct sc_quiesce *z, uint64_t *waited_ns)
{
    uint32_t gen = atomic_load_explicit(&z->gen, memory_order_relaxed);
    *waited_ns = gen ? sc_now_ns() - z->since_ns : 0;
    if (!gen)
        return SC_HOLD_NONE;
    if (atomic_load_explicit(&z->ack, memory_order_acquire) != gen)
        return SC_HOLD_UNKNOWN;
    return (enum sc_hold)atomic_load_explicit(&z->hold, memory_order_relaxed);
}
