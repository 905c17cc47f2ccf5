// Shared-memory counters of decisions served without being logged (see counters.cpp).
#pragma once

namespace recsys_pg {

// Reserves the counters' shared memory when the library is in shared_preload_libraries.
void request_shared_counters();

}  // namespace recsys_pg
