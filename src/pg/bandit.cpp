// SQL entry point of the bandit: recsys._bandit_choose, called by recsys_bandit_decide and
// recsys_bandit_select (src/sql/bandit.sql) with the arms' statistics.
#include <string>
#include <vector>

#include "core/bandit.hpp"
#include "core/random.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/declaration.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "port.h"
#include "utils/builtins.h"
}

namespace {

// Draws made by this backend: with a fixed seed, the n-th choice of a session is reproducible.
uint64_t draws = 0;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_bandit_choose);

// _bandit_choose(algorithm, trials[], reward_sums[], reward_sq_sums[], epsilon)
//   -> (arm int 1-based, explore bool, best int 1-based, u float8 uniform in [0, 1) for holdouts)
Datum recsys_bandit_choose(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 5);
    char* algorithm_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    recsys_pg::ArrayArg trials = recsys_pg::array_arg(fcinfo, 1, FLOAT8OID);
    recsys_pg::ArrayArg rewards = recsys_pg::array_arg(fcinfo, 2, FLOAT8OID);
    recsys_pg::ArrayArg squares = recsys_pg::array_arg(fcinfo, 3, FLOAT8OID);
    double epsilon = PG_GETARG_FLOAT8(4);
    int n = trials.count;
    if (rewards.count != n || squares.count != n)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("arm statistics differ in length")));
    double* t = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* r = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* q = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        t[i] = recsys_pg::float8_at(trials, i);
        r[i] = recsys_pg::float8_at(rewards, i);
        q[i] = recsys_pg::float8_at(squares, i);
    }
    uint64_t seed = static_cast<uint64_t>(recsys_pg::bandit_seed());
    if (seed == 0 && !pg_strong_random(&seed, sizeof(seed)))
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a random seed")));
    uint64_t draw = ++draws;

    int arm = 0, best = 0;
    bool explore = false;
    double u = 0.0;
    recsys_pg::core_call([&] {
        std::vector<recsys::ArmStats> arms(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) arms[static_cast<size_t>(i)] = {t[i], r[i], q[i]};
        recsys::BanditChoice choice =
            recsys::bandit_select(recsys::parse_bandit_algorithm(algorithm_name), arms, seed, draw, epsilon);
        arm = static_cast<int>(choice.arm);
        explore = choice.explore;
        best = static_cast<int>(recsys::best_arm(arms));
        u = recsys::CounterRng(seed, 0x401D0ULL, draw).uniform();
    });

    TupleDesc desc = recsys_pg::result_row_type(fcinfo, 4);
    Datum values[4] = {Int32GetDatum(arm + 1), BoolGetDatum(explore), Int32GetDatum(best + 1), Float8GetDatum(u)};
    bool nulls[4] = {false, false, false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"
