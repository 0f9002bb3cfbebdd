/* What the harnesses share: the log level (SC_FUZZ_LOG=1 for debug lines)
 * and a default sidecore set for the layers that serve queues. */
#ifndef SC_FUZZ_COMMON_H
#define SC_FUZZ_COMMON_H

#include <stdlib.h>

#include "common/log.h"
#include "core/sidecore.h"

static inline void fuzz_log_init(void)
{
    sc_log_set_level(getenv("SC_FUZZ_LOG") ? SC_LOG_DEBUG : SC_LOG_ERR);
}

static inline struct sc_set *fuzz_sidecores(void)
{
    struct sc_params p;
    fuzz_log_init();
    sc_params_default(&p);
    return sc_set_create(&p);
}

#endif
