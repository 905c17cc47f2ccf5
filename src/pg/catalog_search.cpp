// SQL entry point over the cached catalogue (catalog_cache.cpp) for an item's tags (the
// candidate sources and the user's tag profile are in serve.cpp, rule matching in
// rules.cpp). It brings the catalogue up to date first, so an item changed by a committed
// transaction is never read in its old state.
#include <string>
#include <vector>

#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
}

extern "C" {

PG_FUNCTION_INFO_V1(recsys_catalog_item_tags);

// _catalog_item_tags(org, ns, item_id) -> text[]: the item's tags, NULL when the namespace has no
// such item (available or not).
Datum recsys_catalog_item_tags(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 3);
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

}  // extern "C"
