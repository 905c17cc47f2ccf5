// Active rules passed to C functions as parallel arrays, and their effects as JSON (rules.cpp).
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/palloc.h"
}

#include "core/rules.hpp"

namespace recsys_pg {

// The rule arguments first .. first + 9 of a function: rule_ids text[], actions text[],
// boosts float8[], priorities int[], max_pins int[], tags text[], brands text[], categories
// text[] (one per rule; NULL or '' when the target has none), target_rules int[] and
// target_ids text[] (the ids targets name: 1-based rule of each id, and the id). Plain
// palloc'd copies.
struct RuleArgs {
    int count;
    const char** ids;
    const char** actions;
    double* boosts;
    int* priorities;
    int* max_pins;
    const char** tags;
    const char** brands;
    const char** categories;
    int target_count;
    int* target_rules;
    const char** target_ids;
};

RuleArgs rule_args(FunctionCallInfo fcinfo, int first);

// The active rules (and manual overrides, see recsys._active_rules) for arguments 0-4 of the
// function: org, namespace, surface, segment (NULL: none) and time; by priority (highest
// first), then rule_id. Reads them with SPI (the caller has connected); the strings are copied
// into `keep`, so they outlive SPI_finish.
RuleArgs active_rules(FunctionCallInfo fcinfo, MemoryContext keep);

// The core's rules of `args`; call inside core_call.
std::vector<recsys::Rule> to_rules(const RuleArgs& args);

// Appends the matching rules of an effect as a JSON array [{rule_id, action, priority}, ...].
void append_matching_rules(StringInfo out, const RuleArgs& args, const std::vector<size_t>& rules);

}  // namespace recsys_pg
