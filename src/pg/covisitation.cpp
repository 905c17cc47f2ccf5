// A namespace's co-visitation counted from all its events in one pass (src/core/covisitation.cpp):
// recsys._covis_from_events rebuilds recsys.covis (recsys_refresh), and the catalogue cache loads
// an evaluation's scratch namespace from it directly (catalog_cache.cpp). The ingestion triggers
// count the same pairs incrementally in SQL.
//
// SPI can raise (longjmp): the C++ vectors live on the heap behind static pointers and are
// cleared before each use, so an error never skips a destructor and leaks at most until then.
#include <vector>

#include "pg/covisitation.hpp"

#include "pg/boundary.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace {

std::vector<recsys::VisitEvent>* visit_events = nullptr;
std::vector<recsys::PairCount>* pair_counts = nullptr;

}  // namespace

namespace recsys_pg {

NamespacePairs count_namespace_pairs(Datum org, Datum ns, MemoryContext context) {
    Oid types[2] = {UUIDOID, TEXTOID};
    Datum args[2] = {org, ns};
    recsys_pg::core_call([] {
        if (visit_events == nullptr) visit_events = new std::vector<recsys::VisitEvent>();
        if (pair_counts == nullptr) pair_counts = new std::vector<recsys::PairCount>();
        visit_events->clear();
        pair_counts->clear();
    });
    int rc = SPI_execute_with_args(
        "SELECT (extract(epoch FROM covis_window) * 1000000)::int8 FROM recsys.namespaces "
        " WHERE org_id = $1 AND namespace = $2",
        2, types, args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading the co-visitation window failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("namespace \"%s\" does not exist", TextDatumGetCString(ns))));
    bool isnull;
    int64 window = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

    // Items numbered in item_id order, their ids copied into `context`.
    rc = SPI_execute_with_args(
        "SELECT DISTINCT item_id FROM recsys.events WHERE org_id = $1 AND namespace = $2 ORDER BY item_id", 2, types,
        args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading event items failed: %s", SPI_result_code_string(rc));
    NamespacePairs out;
    out.item_count = SPI_processed;
    out.item_ids = static_cast<char**>(MemoryContextAlloc(context, sizeof(char*) * (out.item_count + 1)));
    for (uint64 i = 0; i < out.item_count; ++i)
        out.item_ids[i] = MemoryContextStrdup(context, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
    SPI_freetuptable(SPI_tuptable);

    Portal cursor = SPI_cursor_open_with_args(
        nullptr,
        "SELECT (dense_rank() OVER (ORDER BY e.user_id))::int4, (i.n - 1)::int4, e.ts "
        "  FROM recsys.events e "
        "  JOIN (SELECT d.item_id, row_number() OVER (ORDER BY d.item_id) AS n "
        "          FROM (SELECT DISTINCT item_id FROM recsys.events WHERE org_id = $1 AND namespace = $2) d) i "
        "    ON i.item_id = e.item_id "
        " WHERE e.org_id = $1 AND e.namespace = $2 "
        " ORDER BY e.user_id, e.ts",
        2, types, args, nullptr, true, 0);
    for (;;) {
        SPI_cursor_fetch(cursor, true, 50000);
        if (SPI_processed == 0) break;
        uint64 n = SPI_processed;
        recsys::VisitEvent* batch = static_cast<recsys::VisitEvent*>(palloc(sizeof(recsys::VisitEvent) * n));
        for (uint64 r = 0; r < n; ++r) {
            HeapTuple row = SPI_tuptable->vals[r];
            batch[r].user = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
            batch[r].item = DatumGetInt32(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
            batch[r].ts = DatumGetTimestampTz(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));
        }
        recsys_pg::core_call([&] { visit_events->insert(visit_events->end(), batch, batch + n); });
        pfree(batch);
        SPI_freetuptable(SPI_tuptable);
    }
    SPI_cursor_close(cursor);
    recsys_pg::core_call([&] {
        *pair_counts = recsys::count_pairs(*visit_events, window);
        visit_events->clear();
        visit_events->shrink_to_fit();
    });
    out.pairs = pair_counts;
    return out;
}

void release_namespace_pairs() {
    recsys_pg::core_call([] {
        if (pair_counts == nullptr) return;
        pair_counts->clear();
        pair_counts->shrink_to_fit();
    });
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_covis_from_events);

// _covis_from_events(org, ns) -> (item_a, item_b, pairs): the co-visitation pairs of every event
// of the namespace within its covis_window (item_a < item_b).
Datum recsys_covis_from_events(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 2);
    MemoryContext caller = CurrentMemoryContext;
    SPI_connect();
    recsys_pg::NamespacePairs counted = recsys_pg::count_namespace_pairs(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), caller);
    SPI_finish();
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 3);
    MemoryContext rows = AllocSetContextCreate(CurrentMemoryContext, "recsys co-visitation rows", ALLOCSET_DEFAULT_SIZES);
    size_t total = counted.pairs->size();
    for (size_t p = 0; p < total; ++p) {
        const recsys::PairCount& c = (*counted.pairs)[p];
        MemoryContext previous = MemoryContextSwitchTo(rows);
        Datum values[3] = {CStringGetTextDatum(counted.item_ids[c.a]), CStringGetTextDatum(counted.item_ids[c.b]),
                           Int64GetDatum(c.pairs)};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextSwitchTo(previous);
        if (p % 10000 == 9999) MemoryContextReset(rows);
    }
    MemoryContextDelete(rows);
    recsys_pg::release_namespace_pairs();
    return static_cast<Datum>(0);
}

}  // extern "C"
