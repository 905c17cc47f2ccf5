// Ranking building blocks shared by recsys_rank and the SQL primitives: signal normalisation,
// blending, item similarity and MMR selection with hard brand/category caps.
#pragma once

#include <cmath>
#include <string>
#include <vector>

namespace recsys {

// A candidate item as the ranking core sees it.
struct Candidate {
    std::string item_id;
    double relevance = 0.0;
    std::string brand;              // empty: none
    std::string category;           // empty: none
    std::vector<std::string> tags;
    std::vector<float> embedding;   // empty: none
    // Attributes borrowed from the cached catalogue (valid for the call), used instead of tags and
    // embedding when set: serving does not copy them for every candidate.
    const std::vector<std::string>* borrowed_tags = nullptr;
    const float* borrowed_embedding = nullptr;
    size_t borrowed_dim = 0;
    double borrowed_norm = NAN;  // the borrowed embedding's norm, when the lender knows it

    const std::vector<std::string>& tag_list() const { return borrowed_tags != nullptr ? *borrowed_tags : tags; }
    const float* vector_data() const { return borrowed_embedding != nullptr ? borrowed_embedding : embedding.data(); }
    size_t vector_size() const { return borrowed_embedding != nullptr ? borrowed_dim : embedding.size(); }
};

// Splits `text` at `separator`, dropping empty parts (tag lists travel as one joined string).
std::vector<std::string> split_joined(const char* text, char separator);

// Min-max normalisation to [0, 1]; NaN entries (missing) become 0. When all present values are
// equal they map to 1 if positive, else 0.
std::vector<double> normalize(const std::vector<double>& values);

// Blends `signals` (row-major, rows x columns, NaN = missing) with one weight per column after
// normalising each column; returns one score per row. `normalized` receives the normalised matrix.
std::vector<double> blend(const std::vector<double>& signals, size_t rows, const std::vector<double>& weights,
                          std::vector<double>* normalized);

// Similarity in [0, 1]: embedding cosine (negative clamped to 0) when both items have one of the
// same length, else Jaccard over tags plus brand and category.
double similarity(const Candidate& a, const Candidate& b);

struct MmrOptions {
    size_t k = 20;
    double lambda = 0.7;     // 1: relevance only, 0: diversity only
    size_t brand_cap = 0;    // most items per brand; 0: no cap
    size_t category_cap = 0; // most items per category; 0: no cap
};

// One selected candidate, in pick order.
struct MmrPick {
    size_t index;            // into the candidate list
    double max_similarity;   // to the items picked before it
    double mmr_score;        // lambda * relevance - (1 - lambda) * max_similarity
};

// Greedy MMR: repeatedly picks the candidate with the best MMR score among those within the
// caps; ties go to the smaller item_id. Stops at k picks or when no candidate fits the caps.
std::vector<MmrPick> mmr_select(const std::vector<Candidate>& candidates, const MmrOptions& options);

}  // namespace recsys
