// See bandit.hpp.
#include "core/bandit.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/random.hpp"

namespace recsys {
namespace {

constexpr uint64_t stream_bandit = 0xBA4D17ULL;

// Gamma(shape, 1) variate (Marsaglia and Tsang; shape >= 1 here since posteriors start at 1).
double gamma_sample(double shape, CounterRng& rng) {
    double d = shape - 1.0 / 3.0;
    double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        double x = rng.gaussian();
        double v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = rng.uniform();
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
}

double beta_sample(double a, double b, CounterRng& rng) {
    double x = gamma_sample(a, rng);
    double y = gamma_sample(b, rng);
    return x / (x + y);
}

double mean_of(const ArmStats& arm) {
    return arm.trials > 0.0 ? arm.reward_sum / arm.trials : 0.0;
}

void check_arms(const std::vector<ArmStats>& arms) {
    if (arms.empty()) throw_invalid("a bandit needs at least one arm");
    for (const ArmStats& a : arms)
        if (!(a.trials >= 0.0) || !(a.reward_sum >= 0.0) || a.reward_sum > a.trials || !std::isfinite(a.trials))
            throw_invalid("arm statistics must have 0 <= reward_sum <= trials");
}

}  // namespace

BanditAlgorithm parse_bandit_algorithm(const std::string& name) {
    if (name == "thompson") return BanditAlgorithm::thompson;
    if (name == "ucb1") return BanditAlgorithm::ucb1;
    if (name == "epsilon_greedy") return BanditAlgorithm::epsilon_greedy;
    throw_invalid("unknown bandit algorithm \"" + name + "\"", {}, "Use thompson, ucb1 or epsilon_greedy.");
}

size_t best_arm(const std::vector<ArmStats>& arms) {
    size_t best = 0;
    for (size_t i = 1; i < arms.size(); ++i)
        if (mean_of(arms[i]) > mean_of(arms[best])) best = i;
    return best;
}

BanditChoice bandit_select(BanditAlgorithm algorithm, const std::vector<ArmStats>& arms, uint64_t seed, uint64_t draw,
                           double epsilon) {
    check_arms(arms);
    CounterRng rng(seed, stream_bandit, draw);
    size_t chosen = 0;
    switch (algorithm) {
        case BanditAlgorithm::thompson: {
            double best_sample = -1.0;
            for (size_t i = 0; i < arms.size(); ++i) {
                double sample = beta_sample(1.0 + arms[i].reward_sum, 1.0 + arms[i].trials - arms[i].reward_sum, rng);
                if (sample > best_sample) best_sample = sample, chosen = i;
            }
            break;
        }
        case BanditAlgorithm::ucb1: {
            double total = 0.0;
            for (const ArmStats& a : arms) total += a.trials;
            double best_bound = -1.0;
            for (size_t i = 0; i < arms.size(); ++i) {
                if (arms[i].trials <= 0.0) return {i, true};  // every arm is tried once first
                // UCB1-Tuned: the exploration term shrinks with the arm's observed variance.
                double n = arms[i].trials;
                double mean = mean_of(arms[i]);
                double variance = std::max(0.0, arms[i].reward_sq_sum / n - mean * mean) +
                                  std::sqrt(2.0 * std::log(total) / n);
                double bound = mean + std::sqrt(std::log(total) / n * std::min(0.25, variance));
                if (bound > best_bound) best_bound = bound, chosen = i;
            }
            break;
        }
        case BanditAlgorithm::epsilon_greedy: {
            if (!(epsilon >= 0.0 && epsilon <= 1.0)) throw_invalid("epsilon must be between 0 and 1");
            if (rng.uniform() < epsilon) {
                chosen = static_cast<size_t>(rng.below(arms.size()));
                return {chosen, true};
            }
            chosen = best_arm(arms);
            break;
        }
    }
    return {chosen, chosen != best_arm(arms)};
}

}  // namespace recsys
