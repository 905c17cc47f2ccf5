// Eigen, configured for use inside a PostgreSQL backend: no threads of its own, and a failed
// eigen_assert throws instead of aborting the process (an abort kills every session). Serving
// also calls it from a SideTask thread (core/side_task.hpp); with C++11 thread-safe statics
// Eigen needs no initParallel() for that.
#pragma once

#include "core/error.hpp"

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#define eigen_assert(x)                                                                   \
    do {                                                                                  \
        if (!(x)) throw ::recsys::Error(::recsys::ErrorKind::internal,                    \
                                        "eigen assertion failed: " #x);                   \
    } while (0)

#include <Eigen/Dense>
