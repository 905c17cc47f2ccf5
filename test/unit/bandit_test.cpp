// Unit tests of the bandit algorithms, including a simulation with known reward rates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/bandit.hpp"
#include "core/error.hpp"
#include "core/random.hpp"

namespace {

// Simulates `decisions` rounds against Bernoulli arms; returns the share of the last `tail`
// decisions that chose the best arm, and the cumulative regret at two points.
struct Simulation {
    double best_share_tail;
    double regret_half;
    double regret_full;
};

Simulation simulate(recsys::BanditAlgorithm algorithm, const std::vector<double>& rates, int decisions, int tail) {
    std::vector<recsys::ArmStats> arms(rates.size());
    recsys::CounterRng world(7, 7, 7);
    double best_rate = 0.0;
    size_t best = 0;
    for (size_t i = 0; i < rates.size(); ++i)
        if (rates[i] > best_rate) best_rate = rates[i], best = i;
    Simulation s{0.0, 0.0, 0.0};
    double regret = 0.0;
    int best_tail = 0;
    for (int d = 0; d < decisions; ++d) {
        recsys::BanditChoice c = recsys::bandit_select(algorithm, arms, 42, static_cast<uint64_t>(d), 0.1);
        double reward = world.uniform() < rates[c.arm] ? 1.0 : 0.0;
        arms[c.arm].trials += 1.0;
        arms[c.arm].reward_sum += reward;
        arms[c.arm].reward_sq_sum += reward * reward;
        regret += best_rate - rates[c.arm];
        if (d >= decisions - tail && c.arm == best) ++best_tail;
        if (d == decisions / 2 - 1) s.regret_half = regret;
    }
    s.regret_full = regret;
    s.best_share_tail = static_cast<double>(best_tail) / tail;
    return s;
}

const std::vector<double> rates = {0.02, 0.03, 0.04, 0.05, 0.06};

}  // namespace

TEST(Bandit, ThompsonFindsTheBestArm) {
    Simulation s = simulate(recsys::BanditAlgorithm::thompson, rates, 20000, 5000);
    std::printf("thompson: best share %.3f, regret %.1f at half, %.1f at end\n", s.best_share_tail, s.regret_half, s.regret_full);
    EXPECT_GE(s.best_share_tail, 0.8);
    EXPECT_LT(s.regret_full, 1.6 * s.regret_half);  // sub-linear: the second half adds far less
}

TEST(Bandit, Ucb1FindsTheBestArm) {
    Simulation s = simulate(recsys::BanditAlgorithm::ucb1, rates, 20000, 5000);
    std::printf("ucb1: best share %.3f, regret %.1f at half, %.1f at end\n", s.best_share_tail, s.regret_half, s.regret_full);
    EXPECT_GE(s.best_share_tail, 0.8);
    EXPECT_LT(s.regret_full, 1.6 * s.regret_half);
}

TEST(Bandit, EpsilonGreedyExploresAtRateEpsilon) {
    std::vector<recsys::ArmStats> arms = {{100, 10}, {100, 50}};
    int explore = 0;
    for (int d = 0; d < 10000; ++d) {
        auto c = recsys::bandit_select(recsys::BanditAlgorithm::epsilon_greedy, arms, 1, static_cast<uint64_t>(d), 0.2);
        explore += c.explore;
        if (!c.explore) EXPECT_EQ(c.arm, 1u);
    }
    EXPECT_NEAR(explore / 10000.0, 0.2, 0.02);
}

TEST(Bandit, SameSeedAndDrawSameChoice) {
    std::vector<recsys::ArmStats> arms = {{10, 2}, {10, 3}, {10, 4}};
    auto a = recsys::bandit_select(recsys::BanditAlgorithm::thompson, arms, 5, 99, 0.1);
    auto b = recsys::bandit_select(recsys::BanditAlgorithm::thompson, arms, 5, 99, 0.1);
    EXPECT_EQ(a.arm, b.arm);
}

TEST(Bandit, Ucb1TriesEveryArmFirst) {
    std::vector<recsys::ArmStats> arms = {{5, 5}, {0, 0}, {3, 0}};
    EXPECT_EQ(recsys::bandit_select(recsys::BanditAlgorithm::ucb1, arms, 1, 1, 0).arm, 1u);
}

TEST(Bandit, RejectsBadInput) {
    EXPECT_THROW(recsys::parse_bandit_algorithm("greedy"), recsys::Error);
    EXPECT_THROW(recsys::bandit_select(recsys::BanditAlgorithm::thompson, {}, 1, 1, 0), recsys::Error);
    EXPECT_THROW(recsys::bandit_select(recsys::BanditAlgorithm::thompson, {{1, 2}}, 1, 1, 0), recsys::Error);
    EXPECT_THROW(recsys::bandit_select(recsys::BanditAlgorithm::epsilon_greedy, {{1, 0}}, 1, 1, 1.5), recsys::Error);
}
