// See pipeline.hpp. Every stage is deterministic: ties are broken by item_id.
#include "core/pipeline.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace recsys {
namespace {

// A filter stage: its name in traces and its counter in the funnel.
struct FilterStage {
    const char* name;
    size_t Funnel::*count;
};
constexpr FilterStage unavailable{"unavailable", &Funnel::unavailable}, blocked{"blocked", &Funnel::blocked},
    excluded{"excluded", &Funnel::excluded}, seen{"seen", &Funnel::seen}, purchased{"purchased", &Funnel::purchased},
    tags{"tags", &Funnel::tags}, price{"price", &Funnel::price}, freshness{"freshness", &Funnel::freshness};

// The first filter stage that drops `item`, or nullptr when it survives all.
const FilterStage* failed_filter(const PipelineItem& item, const PipelineOptions& o) {
    if (!item.available) return &unavailable;
    if (item.blocked) return &blocked;
    if (item.excluded) return &excluded;
    if (o.exclude_seen && item.seen) return &seen;
    if (item.purchased_recently) return &purchased;
    if (!o.include_tags_any.empty()) {
        bool any = false;
        for (const std::string& t : o.include_tags_any)
            any |= std::find(item.candidate.tag_list().begin(), item.candidate.tag_list().end(), t) !=
                   item.candidate.tag_list().end();
        if (!any) return &tags;
    }
    if ((!std::isnan(o.price_min) || !std::isnan(o.price_max)) &&
        (std::isnan(item.price) || (!std::isnan(o.price_min) && item.price < o.price_min) ||
         (!std::isnan(o.price_max) && item.price > o.price_max)))
        return &price;
    if (!std::isnan(o.created_after) && !(item.created_at >= o.created_after)) return &freshness;
    return nullptr;
}

// Share of the user's tag-profile weight carried by the item's tags, in [0, 1].
double profile_overlap(const PipelineItem& item, const std::unordered_map<std::string, double>& profile, double total) {
    if (total <= 0.0) return 0.0;
    double carried = item.profile_weight;
    if (std::isnan(carried)) {
        carried = 0.0;
        for (const std::string& t : item.candidate.tag_list()) {
            auto it = profile.find(t);
            if (it != profile.end()) carried += it->second;
        }
    }
    return std::min(1.0, carried / total);
}

}  // namespace

std::vector<RankedItem> run_pipeline(std::vector<PipelineItem>& items, const PipelineOptions& o, Funnel* f) {
    if (o.alpha < 0 || o.beta < 0 || o.gamma < 0) throw_invalid("blend weights must not be negative");
    if (!(o.profile_boost >= 0.0 && o.profile_boost <= 1.0)) throw_invalid("profile_boost must be between 0 and 1");
    if (!(o.boost_floor >= 0.0 && o.boost_floor <= 1.0)) throw_invalid("boost_floor must be between 0 and 1");
    if (!(o.novelty >= 0.0 && o.novelty <= 1.0)) throw_invalid("novelty must be between 0 and 1");
    *f = Funnel{};
    f->candidates = items.size();

    // Pinned items take the first slots and skip the request's filters, but never a block, an
    // explicit exclusion or unavailability.
    std::vector<size_t> pinned, kept;
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].pin >= 0 && items[i].available && !items[i].blocked && !items[i].excluded) {
            pinned.push_back(i);
            continue;
        }
        if (const FilterStage* stage = failed_filter(items[i], o)) {
            ++(f->*(stage->count));
            f->dropped.emplace_back(i, stage->name);
        } else {
            kept.push_back(i);
        }
    }
    std::sort(pinned.begin(), pinned.end(), [&](size_t a, size_t b) { return items[a].pin < items[b].pin; });
    if (pinned.size() > o.k) pinned.resize(o.k);
    f->pinned = pinned.size();
    f->eligible = kept.size();

    // Blend the normalised signals of the eligible candidates.
    std::vector<double> signals(kept.size() * 3);
    for (size_t r = 0; r < kept.size(); ++r) {
        const PipelineItem& item = items[kept[r]];
        signals[r * 3] = item.popularity;
        signals[r * 3 + 1] = item.covisitation;
        signals[r * 3 + 2] = item.similarity;
    }
    std::vector<double> normalized;
    std::vector<double> blended = blend(signals, kept.size(), {o.alpha, o.beta, o.gamma}, &normalized);
    double weight_sum = o.alpha + o.beta + o.gamma;

    // Personalisation: a boost of at most profile_boost, attenuated for users with little history.
    double profile_total = 0.0;
    for (const auto& entry : o.tag_profile) profile_total += std::max(0.0, entry.second);
    double attenuation = std::min(1.0, static_cast<double>(o.user_history) / 10.0);

    std::vector<Candidate> pool;
    std::vector<double> blend_of(kept.size()), boost_of(kept.size());
    pool.reserve(kept.size());
    for (size_t r = 0; r < kept.size(); ++r) {
        PipelineItem& item = items[kept[r]];
        blend_of[r] = weight_sum > 0 ? blended[r] / weight_sum : 0.0;
        // A positive boost first lifts the item to the floor: it can give exposure to an item
        // that no signal supports yet (a brand-new item).
        if (item.rule_factor > 1.0) blend_of[r] = std::max(blend_of[r], o.boost_floor);
        boost_of[r] = o.profile_boost * attenuation * profile_overlap(item, o.tag_profile, profile_total);
        // Novelty trades accuracy for reach: the most popular candidate loses `novelty` of its score.
        double novelty_factor = 1.0 - o.novelty * normalized[r * 3];
        item.candidate.relevance = blend_of[r] * (1.0 + boost_of[r]) * item.rule_factor * novelty_factor;
        pool.push_back(std::move(item.candidate));  // moved back below
    }

    std::vector<RankedItem> out;
    for (size_t i : pinned) {
        RankedItem ranked{i, 1.0, 0.0, 0.0, 0.0, {"rule:pin"}};
        ranked.rule_factor = items[i].rule_factor;
        out.push_back(std::move(ranked));
    }

    MmrOptions mmr = o.mmr;
    mmr.k = o.k - pinned.size();
    std::vector<MmrPick> picks = mmr_select(pool, mmr);
    for (size_t p = 0; p < picks.size(); ++p) {
        size_t r = picks[p].index;
        const PipelineItem& item = items[kept[r]];
        RankedItem ranked{kept[r], pool[r].relevance, blend_of[r], boost_of[r], picks[p].max_similarity, {}};
        ranked.popularity = normalized[r * 3];
        ranked.covisitation = normalized[r * 3 + 1];
        ranked.similarity = normalized[r * 3 + 2];
        ranked.rule_factor = item.rule_factor;
        if (normalized[r * 3] > 0 && o.alpha > 0) ranked.reasons.push_back("recent_popularity");
        if (normalized[r * 3 + 1] > 0 && o.beta > 0) ranked.reasons.push_back("co_visitation");
        if (normalized[r * 3 + 2] > 0 && o.gamma > 0)
            ranked.reasons.push_back(item.collaborative ? "collaborative" : "embedding_similarity");
        if (item.sources & source_content) ranked.reasons.push_back("content");
        if (boost_of[r] > 0) ranked.reasons.push_back("personalization");
        if (item.rule_factor > 1.0) ranked.reasons.push_back("rule:boost");
        if (item.rule_factor < 1.0) ranked.reasons.push_back("rule:demote");
        // Picked ahead of a more relevant eligible candidate (diversity at work): some candidate
        // more relevant than this one is not among the picks so far (counted, not searched).
        size_t more_relevant = 0, picked_more_relevant = 0;
        for (const Candidate& c : pool) more_relevant += c.relevance > pool[r].relevance;
        for (size_t e = 0; e < p; ++e) picked_more_relevant += pool[picks[e].index].relevance > pool[r].relevance;
        if (more_relevant > picked_more_relevant) ranked.reasons.push_back("diversity");
        out.push_back(std::move(ranked));
    }
    for (size_t r = 0; r < kept.size(); ++r) items[kept[r]].candidate = std::move(pool[r]);
    f->returned = out.size();
    return out;
}

}  // namespace recsys
