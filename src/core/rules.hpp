// Business rules applied to a list of items: which active rules name each item, whether one of
// them blocks it, and the product of its boosts. Pure C++ over the cached catalogue; serving
// (src/pg/serve.cpp) and the rule primitives (recsys._rule_hits) share it.
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
    int max_pins = 1;  // pin rules: most items pinned by this rule
    ItemTarget target;
};

// What the rules do to one item.
struct RuleEffect {
    bool blocked = false;
    double factor = 1.0;        // product of (1 + boost) of the matching boost rules
    std::vector<size_t> rules;  // matching rules (indexes into the rule list), priority order
};

// Indexes of `rules` by priority, highest first, then by rule_id.
std::vector<size_t> rules_by_priority(const std::vector<Rule>& rules);

// The effect of `rules` on each of `item_ids`: a rule matches an item its target names (see
// Catalog::matches). Matching rules are listed by priority, highest first, then by rule_id.
std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<Rule>& rules);
// The same for items whose catalogue slots are known (slots[i] for item_ids[i], -1: not in it).
// With `named`, the matching rules are counted there (named[r]: how many items rule r names)
// instead of listed in each effect.
std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<int>& slots, const std::vector<Rule>& rules,
                                     std::vector<int>* named = nullptr);

// The pinned items of a request, in pin order: pin rules by priority (highest first, then
// rule_id); each rule's items in the order its item_ids list them, items it names otherwise
// (tag, brand, category) before those and by item_id; at most max_pins per rule; only available
// catalogue items that no block rule names; an item two rules pin keeps its first place; at most
// `slots` in all.
std::vector<std::string> pinned_items(const Catalog& catalog, const std::vector<Rule>& rules, size_t slots);

}  // namespace recsys
