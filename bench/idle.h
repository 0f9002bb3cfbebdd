/* `sidecore-bench idle`: what an idle daemon costs. Starts sidecored (one
 * sidecore) with null devices, attaches the requested number of queues
 * through the frontend library, does one request on each (so every queue is
 * started and has been polled), then measures the daemon's CPU time from
 * /proc over the window while nothing is submitted. Prints CPU %, and the
 * sidecore's sleeps and wakeups over the window. */
#ifndef BENCH_IDLE_H
#define BENCH_IDLE_H

#include "opts.h"

int bench_idle(struct bench_opts *o, const char *argv0);

#endif
