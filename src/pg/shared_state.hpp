// State in shared memory: decisions served without logging and running trainings' progress
// (see shared_state.cpp).
#pragma once

namespace recsys_pg {

// Reserves the shared memory when the library is in shared_preload_libraries.
void request_shared_state();

// Claims a progress slot for a training of `iterations` in org's namespace; -1 when all are busy.
int progress_begin(const char* org, const char* ns, int iterations);

// Records that `iteration` ended with objective `loss`.
void progress_update(int slot, int iteration, double loss);

// Frees the slot (call on success and on error).
void progress_end(int slot);

}  // namespace recsys_pg
