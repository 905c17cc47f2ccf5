// Business rules applied to items (see rules.hpp).
#include "core/rules.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"
#include "core/int_map.hpp"

namespace recsys {

std::vector<size_t> rules_by_priority(const std::vector<Rule>& rules) {
    std::vector<size_t> order(rules.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return rules[a].priority != rules[b].priority ? rules[a].priority > rules[b].priority
                                                      : rules[a].rule_id < rules[b].rule_id;
    });
    return order;
}

std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<Rule>& rules) {
    std::vector<int> slots;
    slots.reserve(item_ids.size());
    for (const std::string& id : item_ids) slots.push_back(catalog.find(id));
    return rule_effects(catalog, item_ids, slots, rules);
}

std::vector<RuleEffect> rule_effects(const Catalog& catalog, const std::vector<std::string>& item_ids,
                                     const std::vector<int>& slots, const std::vector<Rule>& rules,
                                     std::vector<int>* named) {
    if (slots.size() != item_ids.size()) throw_invalid("item ids and slots differ in length");
    std::vector<size_t> order = rules_by_priority(rules);
    for (const Rule& r : rules)
        if (r.action != "block" && r.action != "pin" && r.action != "boost")
            throw_invalid("rule \"" + r.rule_id + "\" has an unknown action \"" + r.action + "\"");
    // The rules each attribute token and slot their targets name, as bit sets of ranks (the
    // place in priority order, `words` 64-bit words a set); the same match as Catalog::matches
    // without testing every rule on every item. Tokens are found through a small hash table.
    size_t words = (order.size() + 63) / 64;
    IntMap<uint32_t> token_rules(16);  // token -> offset of its set in token_sets
    std::vector<uint64_t> token_sets;
    std::vector<int> named_tokens;
    std::vector<std::pair<int, size_t>> by_slot;
    std::vector<CompiledTarget> targets;
    targets.reserve(rules.size());
    for (size_t rank = 0; rank < order.size(); ++rank) {
        targets.push_back(catalog.compile(rules[order[rank]].target));
        const CompiledTarget& t = targets.back();
        for (const std::vector<int>* tokens : {&t.tags, &t.brands, &t.categories})
            for (int token : *tokens) {
                uint32_t offset = token_rules.emplace(token, static_cast<uint32_t>(token_sets.size()));
                if (offset == token_sets.size()) {
                    token_sets.resize(token_sets.size() + words, 0);
                    named_tokens.push_back(token);
                }
                token_sets[offset + rank / 64] |= uint64_t{1} << (rank % 64);
            }
        for (int slot : t.slots) by_slot.emplace_back(slot, rank);
    }
    std::sort(by_slot.begin(), by_slot.end());
    // What each rank does, decided once rather than by comparing action strings per match.
    std::vector<bool> blocks(order.size());
    std::vector<double> factors(order.size());
    for (size_t rank = 0; rank < order.size(); ++rank) {
        const Rule& r = rules[order[rank]];
        blocks[rank] = r.action == "block";
        factors[rank] = r.action == "boost" ? 1.0 + r.boost : 1.0;
    }
    std::vector<RuleEffect> effects(item_ids.size());
    if (named != nullptr) named->assign(rules.size(), 0);
    if (rules.empty()) return effects;
    std::vector<uint64_t> matched(words);
    constexpr size_t prefetch_distance = 8;
    bool any_token = !token_sets.empty();  // rules naming only items need no item's tokens
    // With at most 64 rules, each slot's token matches are kept between calls (the same rules
    // serve call after call): a slot seen before needs no token read.
    Catalog::TokenMatches* kept = nullptr;
    if (any_token && words == 1) {
        std::vector<std::pair<int, uint64_t>> named;
        for (int token : named_tokens) named.emplace_back(token, token_sets[*token_rules.find(token)]);
        std::sort(named.begin(), named.end());
        kept = &catalog.token_matches(named);
    }
    // The rule sets the slot's attribute tokens name, or-ed into matched.
    auto match_tokens = [&](int slot) {
        bool found = false;
        catalog.for_each_token(slot, [&](int token) {
            if (const uint32_t* offset = token_rules.find(token)) {
                for (size_t w = 0; w < words; ++w) matched[w] |= token_sets[*offset + w];
                found = true;
            }
        });
        return found;
    };
    for (size_t i = 0; i < item_ids.size(); ++i) {
        if (any_token && i + prefetch_distance < slots.size() && slots[i + prefetch_distance] >= 0) {
            if (kept != nullptr)
                __builtin_prefetch(&kept->slots[static_cast<size_t>(slots[i + prefetch_distance])]);
            else
                catalog.prefetch_tokens(slots[i + prefetch_distance]);
        }
        std::fill(matched.begin(), matched.end(), 0);
        bool any = false;
        if (slots[i] >= 0) {
            size_t s = static_cast<size_t>(slots[i]);
            if (kept != nullptr) {
                Catalog::TokenMatches::Entry& entry = kept->slots[s];
                if (entry.stamp != kept->generation) {
                    match_tokens(slots[i]);
                    entry = {matched[0], kept->generation};
                }
                matched[0] = entry.set;
                any = matched[0] != 0;
            } else if (any_token) {
                any = match_tokens(slots[i]);
            }
            if (!by_slot.empty()) {
                auto p = std::lower_bound(by_slot.begin(), by_slot.end(), std::make_pair(slots[i], size_t{0}));
                for (; p != by_slot.end() && p->first == slots[i]; ++p, any = true)
                    matched[p->second / 64] |= uint64_t{1} << (p->second % 64);
            }
        } else {
            for (size_t rank = 0; rank < targets.size(); ++rank)
                if (targets[rank].missing_ids.count(item_ids[i]) > 0) {
                    matched[rank / 64] |= uint64_t{1} << (rank % 64);
                    any = true;
                }
        }
        if (!any) continue;
        // The matched rules in rank order: boosts compound in priority order.
        RuleEffect& e = effects[i];
        for (size_t w = 0; w < words; ++w)
            for (uint64_t bits = matched[w]; bits != 0; bits &= bits - 1) {
                size_t rank = w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
                if (named == nullptr)
                    e.rules.push_back(order[rank]);
                else
                    ++(*named)[order[rank]];
                e.blocked = e.blocked || blocks[rank];
                e.factor *= factors[rank];
            }
    }
    return effects;
}

std::vector<std::string> pinned_items(const Catalog& catalog, const std::vector<Rule>& rules, size_t slots) {
    std::vector<std::string> pins;
    std::vector<CompiledTarget> blocks;
    for (const Rule& r : rules)
        if (r.action == "block") blocks.push_back(catalog.compile(r.target));
    auto blocked = [&](int slot) {
        for (const CompiledTarget& b : blocks)
            if (catalog.matches(b, catalog.item_id(slot), slot)) return true;
        return false;
    };
    for (size_t r : rules_by_priority(rules)) {
        const Rule& rule = rules[r];
        if (rule.action != "pin") continue;
        // Named by tag, brand or category first (by item_id), then in the order item_ids lists them.
        std::vector<int> named = catalog.matching(rule.target, true);
        std::vector<int> listed, others;
        for (int slot : named) {
            auto at = std::find(rule.target.item_ids.begin(), rule.target.item_ids.end(), catalog.item_id(slot));
            (at == rule.target.item_ids.end() ? others : listed).push_back(slot);
        }
        auto position = [&](int slot) {
            return std::find(rule.target.item_ids.begin(), rule.target.item_ids.end(), catalog.item_id(slot)) -
                   rule.target.item_ids.begin();
        };
        std::stable_sort(listed.begin(), listed.end(), [&](int a, int b) { return position(a) < position(b); });
        others.insert(others.end(), listed.begin(), listed.end());
        int taken = 0;
        for (int slot : others) {
            if (taken >= rule.max_pins) break;
            if (blocked(slot)) continue;
            ++taken;
            const std::string& id = catalog.item_id(slot);
            if (std::find(pins.begin(), pins.end(), id) == pins.end()) pins.push_back(id);
        }
    }
    if (pins.size() > slots) pins.resize(slots);
    return pins;
}

}  // namespace recsys
