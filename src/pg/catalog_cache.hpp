// The backend's cached catalogue of each namespace it serves (see catalog_cache.cpp).
#pragma once

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
}

#include "core/catalog.hpp"

namespace recsys_pg {

// The catalogue of org's namespace as the current snapshot sees it: loaded on first use, then
// brought up to date with the items changed since; ERROR 42704 when the namespace does not exist.
// Call inside SPI_connect / SPI_finish. The reference stays valid until the next call.
const recsys::Catalog& current_catalog(Datum org, const char* ns);

// Days from the decay epoch (2000-01-01) to `at`, as recsys._decay_days.
inline double decay_days(TimestampTz at) { return static_cast<double>(at) / USECS_PER_DAY; }

// Until the current transaction ends, the catalogue of org's namespace takes its co-visitation
// from the namespace's events (counted in one pass) rather than from recsys.covis: for a scratch
// namespace that is private to the transaction and never stores its pairs.
void take_covis_from_events(Datum org, const char* ns);

// Registers the transaction callbacks that drop a catalogue holding rolled-back changes.
void register_catalog_callbacks();

}  // namespace recsys_pg
