// Co-visitation counted from a namespace's events in one pass (see covisitation.cpp).
#pragma once

#include <vector>

extern "C" {
#include "postgres.h"
}

#include "core/covisitation.hpp"

namespace recsys_pg {

// The pairs of a namespace's events: item ids in item_id order (pairs index them) and the counts.
struct NamespacePairs {
    char** item_ids;
    uint64 item_count;
    const std::vector<recsys::PairCount>* pairs;  // valid until release_namespace_pairs()
};

// Counts the co-visitation of every event of org's namespace within its covis_window; call with
// SPI connected. The ids are allocated in `context`. ERROR 42704 for an unknown namespace.
NamespacePairs count_namespace_pairs(Datum org, Datum ns, MemoryContext context);

// Frees the counts of the last count_namespace_pairs().
void release_namespace_pairs();

}  // namespace recsys_pg
