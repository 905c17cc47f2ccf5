// Business rules applied to a list of items: which active rules name each item, whether one of
// them blocks it, and the product of its boosts. Pure C++ over the cached catalogue; serving
// (src/pg/candidates.cpp) and the rule primitives (recsys._rule_hits) share it.
#pragma once

#include <string>
#include <vector>

#include "core/catalog.hpp"

namespace recsys {

// An active rule: action "block", "pin" or "boost" (boost: the score is multiplied by 1 + boost).
struct Rule {
    std::string rule_id;
    std::string action;
    double boost = 0.0;
    int priority = 0;
    ItemTarget target;
};

// What the rules do to one item.
struct RuleEffect {
    bool blocked = false;
    double factor = 1.0;        // product of (1 + boost) of the matching boost rules
    std::vector<size_t> rules;  // matching rules (indexes into the rule list), priority order
};

// The effect of `rules` on each of `item_ids`: a rule matches an item its target names (see
// Catalog::matches). Matching rules are listed by priority, highest first, then by rule_id.
std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<Rule>& rules);

}  // namespace recsys
