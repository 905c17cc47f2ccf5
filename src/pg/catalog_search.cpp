// SQL entry point over the cached catalogue (catalog_cache.cpp) for a user's tag profile (the
// candidate sources are in candidates.cpp, rule matching in rules.cpp). It brings the catalogue
// up to date first, so an item changed by a committed transaction is never read in its old state.
#include <string>
#include <utility>
#include <vector>

#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
}

namespace {

// Tags and weights of the last _catalog_tag_weights call, on the heap behind a static pointer
// (copying them into datums can raise).
std::vector<std::pair<std::string, double>>* tag_sums = nullptr;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_catalog_tag_weights);

// _catalog_tag_weights(org, ns, item_ids text[], weights float8[]) -> (tag, weight): each tag of
// the given items with the sum of their positive weights (see Catalog::tag_weights).
Datum recsys_catalog_tag_weights(PG_FUNCTION_ARGS) {
    int count;
    const char** ids = recsys_pg::text_elements(fcinfo, 2, &count);
    recsys_pg::ArrayArg weights = recsys_pg::array_arg(fcinfo, 3, FLOAT8OID);
    if (weights.count != count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("item_ids and weights differ in length")));
    double* weight = static_cast<double*>(palloc(sizeof(double) * (count + 1)));
    for (int i = 0; i < count; ++i) weight[i] = recsys_pg::float8_at(weights, i);
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (tag_sums == nullptr) tag_sums = new std::vector<std::pair<std::string, double>>();
        *tag_sums = catalog.tag_weights(std::vector<std::string>(ids, ids + count), std::vector<double>(weight, weight + count));
    });
    SPI_finish();
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    for (const auto& sum : *tag_sums) {
        Datum values[2] = {CStringGetTextDatum(sum.first.c_str()), Float8GetDatum(sum.second)};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"
