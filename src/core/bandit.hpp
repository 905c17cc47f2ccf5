// Multi-armed bandit policy selection: Thompson sampling (Beta posteriors), UCB1 (with the
// UCB1-Tuned variance bound of Auer, Cesa-Bianchi and Fischer, 2002, which suits the small reward
// rates of recommendations) and epsilon-greedy over per-arm statistics. Rewards are in [0, 1]; a decision without a reward
// still counts as a trial (reward 0), so estimates carry no optimistic bias.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recsys {

enum class BanditAlgorithm { thompson, ucb1, epsilon_greedy };

// Parses "thompson", "ucb1" or "epsilon_greedy"; throws invalid_parameter otherwise.
BanditAlgorithm parse_bandit_algorithm(const std::string& name);

struct ArmStats {
    double trials = 0.0;
    double reward_sum = 0.0;     // between 0 and trials
    double reward_sq_sum = 0.0;  // sum of squared rewards (equals reward_sum for 0/1 rewards)
};

struct BanditChoice {
    size_t arm;
    bool explore;  // the chosen arm is not the one with the best mean so far
};

// Chooses an arm. `seed` and `draw` key the counter-based random numbers (the same pair gives
// the same choice); `epsilon` is used by epsilon_greedy only.
BanditChoice bandit_select(BanditAlgorithm algorithm, const std::vector<ArmStats>& arms, uint64_t seed, uint64_t draw,
                           double epsilon);

// The arm with the best mean reward (ties: lowest index); arms without trials count 0.
size_t best_arm(const std::vector<ArmStats>& arms);

}  // namespace recsys
