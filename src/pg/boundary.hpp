// The one place where C++ exceptions become PostgreSQL errors.
//
// Entry points run core code through core_call(). The exception is caught and copied into plain
// data inside the catch block; ereport (which longjmps) is called only after the catch block has
// ended, so no C++ object with a destructor is skipped by the jump.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace recsys_pg {

// A caught exception as plain data (no destructor), ready to be raised as an ERROR.
struct CaughtError {
    bool caught;
    int sqlstate;
    bool cancelled;
    char message[1024];
    char detail[1024];
    char hint[512];
};

// Fills `out` from the exception being handled; call only inside a catch block.
void capture_current_exception(CaughtError* out) noexcept;

// Raises `error` as a PostgreSQL ERROR; never returns.
[[noreturn]] void raise_caught(const CaughtError* error);

// Runs `body` (core code that may throw); an exception becomes an ERROR with its SQLSTATE.
template <typename Body>
inline void core_call(Body&& body) {
    CaughtError error;
    error.caught = false;
    try {
        body();
    } catch (...) {
        capture_current_exception(&error);
    }
    if (error.caught) raise_caught(&error);
}

}  // namespace recsys_pg
