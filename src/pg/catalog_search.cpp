// SQL entry points over the cached catalogue (catalog_cache.cpp) for a user's tag profile and an
// item's tags (the candidate sources are in candidates.cpp, rule matching in rules.cpp). Each
// brings the catalogue up to date first, so an item changed by a committed transaction is never
// read in its old state.
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

// The profile of the last _catalog_tag_profile call, on the heap behind a static pointer
// (copying it into datums can raise).
std::vector<std::pair<std::string, double>>* profile = nullptr;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_catalog_tag_profile);
PG_FUNCTION_INFO_V1(recsys_catalog_item_tags);

// _catalog_item_tags(org, ns, item_id) -> text[]: the item's tags, NULL when the namespace has no
// such item (available or not).
Datum recsys_catalog_item_tags(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_NULL();
    const char* item_id = text_to_cstring(PG_GETARG_TEXT_PP(2));
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    int slot = -1;
    recsys_pg::core_call([&] { slot = catalog.find(item_id); });
    if (slot < 0) {
        SPI_finish();
        PG_RETURN_NULL();
    }
    // Copied into datums before SPI_finish, in the caller's memory (the catalogue outlives both).
    const std::vector<std::string>& tags = catalog.tags(slot);
    int n = static_cast<int>(tags.size());
    SPI_finish();
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (int i = 0; i < n; ++i) values[i] = CStringGetTextDatum(tags[static_cast<size_t>(i)].c_str());
    PG_RETURN_ARRAYTYPE_P(construct_array(values, n, TEXTOID, -1, false, TYPALIGN_INT));
}

// _catalog_tag_profile(org, ns, item_ids text[], weights float8[], top int) -> (tags text[],
// weights float8[]): the `top` heaviest tags of the given items, each with the sum of their
// positive weights, heaviest first, ties by tag in byte order (see Catalog::tag_profile).
Datum recsys_catalog_tag_profile(PG_FUNCTION_ARGS) {
    int count;
    const char** ids = recsys_pg::text_elements(fcinfo, 2, &count);
    recsys_pg::ArrayArg weights = recsys_pg::array_arg(fcinfo, 3, FLOAT8OID);
    if (weights.count != count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("item_ids and weights differ in length")));
    int top = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
    if (top < 0) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("top must not be negative")));
    double* weight = static_cast<double*>(palloc(sizeof(double) * (count + 1)));
    for (int i = 0; i < count; ++i) weight[i] = recsys_pg::float8_at(weights, i);
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (profile == nullptr) profile = new std::vector<std::pair<std::string, double>>();
        *profile = catalog.tag_profile(std::vector<std::string>(ids, ids + count), std::vector<double>(weight, weight + count),
                                       static_cast<size_t>(top));
    });
    SPI_finish();
    int n = static_cast<int>(profile->size());
    Datum* tags = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    Datum* sums = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        tags[i] = CStringGetTextDatum((*profile)[static_cast<size_t>(i)].first.c_str());
        sums[i] = Float8GetDatum((*profile)[static_cast<size_t>(i)].second);
    }
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    Datum values[2] = {PointerGetDatum(construct_array(tags, n, TEXTOID, -1, false, TYPALIGN_INT)),
                       PointerGetDatum(construct_array(sums, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    bool nulls[2] = {false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"
