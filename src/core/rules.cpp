// Business rules applied to items (see rules.hpp).
#include "core/rules.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace recsys {

std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<Rule>& rules) {
    std::vector<size_t> order(rules.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return rules[a].priority != rules[b].priority ? rules[a].priority > rules[b].priority
                                                      : rules[a].rule_id < rules[b].rule_id;
    });
    for (const Rule& r : rules)
        if (r.action != "block" && r.action != "pin" && r.action != "boost")
            throw_invalid("rule \"" + r.rule_id + "\" has an unknown action \"" + r.action + "\"");
    std::vector<RuleEffect> effects(item_ids.size());
    for (size_t i = 0; i < item_ids.size(); ++i) {
        RuleEffect& e = effects[i];
        int slot = catalog.find(item_ids[i]);
        for (size_t r : order) {
            if (!catalog.matches(rules[r].target, item_ids[i], slot)) continue;
            e.rules.push_back(r);
            if (rules[r].action == "block") e.blocked = true;
            if (rules[r].action == "boost") e.factor *= 1.0 + rules[r].boost;
        }
    }
    return effects;
}

}  // namespace recsys
