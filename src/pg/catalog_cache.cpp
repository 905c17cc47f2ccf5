// Keeps a backend-local recsys::Catalog per namespace current without ever serving stale data.
//
// Every items and item_popularity row carries changed_xid, the top-level transaction that last
// wrote it; deleting rows of either renews namespaces.catalog_epoch. A call reads, in one
// statement, the epoch, the embedding dimension, the factor model and embedding index versions,
// the event types' half-lives and the snapshot's xmin. A new epoch or dimension reloads
// everything; otherwise only rows with changed_xid >= the xmin stored at the previous call are
// re-read: a transaction that was still running then has an xid at or above that xmin, so its
// rows are read once it has committed. Rows written by the current transaction mark the
// catalogue as tainted; if that transaction or a subtransaction aborts, the catalogue is
// reloaded on next use. The transaction's own rows are re-read only after it wrote some again
// (a statement trigger counts such writes), so ranking inside a transaction that loaded a whole
// namespace (recsys_evaluate) does not re-read it at every call. When a call's snapshot is the
// previous call's (same running transactions, same command id) and nothing was written since,
// it sees exactly the same rows: no query is run at all.
//
// Loading calls SPI, which can raise (longjmp): C++ objects live only inside core_call blocks
// or on the heap behind the static entries; an entry is valid only once its load finished.
#include "pg/catalog_cache.hpp"
#include "pg/spi.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/huge_pages.hpp"
#include "pg/boundary.hpp"
#include "pg/covisitation.hpp"
#include "pg/declaration.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

using recsys_pg::array_column;
using recsys_pg::column;
using recsys_pg::prepared;
using recsys_pg::text_column;

namespace {

// Mappings from this size on are advised to huge pages after a load (smaller ones gain little).
constexpr size_t huge_pages_from = size_t{4} << 20;

// One namespace's catalogue and the versions it reflects.
struct Entry {
    std::unique_ptr<recsys::Catalog> catalog;
    bool valid = false;      // a load finished and no rolled-back change is in it
    bool tainted = false;    // holds rows of the current, uncommitted transaction
    int64 epoch = -1;
    int32 dim = -1;
    uint64 watermark = 0;    // xmin of the snapshot of the previous call
    int64 model_version = -1;
    int64 index_version = -1;
    uint64 own_xid = 0;      // the transaction whose rows were read at the previous call
    uint64 own_writes = 0;   // catalogue_writes at that call
    // The snapshot of the previous call: when the next call's is the same (same running
    // transactions, same command of this transaction) and nothing was written since, nothing it
    // can see has changed and no query is needed.
    TransactionId snapshot_xmin = InvalidTransactionId, snapshot_xmax = InvalidTransactionId;
    CommandId snapshot_cid = InvalidCommandId;
    std::vector<TransactionId> snapshot_xip;
};

// Whether `snapshot` sees exactly what the entry's last snapshot saw.
bool same_snapshot(const Entry& e, Snapshot snapshot) {
    if (snapshot == nullptr || snapshot->suboverflowed || snapshot->subxcnt != 0 || snapshot->xmin != e.snapshot_xmin ||
        snapshot->xmax != e.snapshot_xmax || snapshot->curcid != e.snapshot_cid ||
        snapshot->xcnt != e.snapshot_xip.size())
        return false;
    for (uint32 i = 0; i < snapshot->xcnt; ++i)
        if (std::find(e.snapshot_xip.begin(), e.snapshot_xip.end(), snapshot->xip[i]) == e.snapshot_xip.end()) return false;
    return true;
}

// Statements of this backend that wrote items or popularity rows (counted by a trigger): while
// it stays unchanged, the current transaction's own rows need not be read again.
uint64 catalogue_writes = 0;

// Entries by "org/namespace"; heap-allocated once, never destroyed before the backend exits.
std::map<std::string, Entry>* entries = nullptr;

// Namespaces whose co-visitation this transaction takes from their events rather than from
// recsys.covis (an evaluation's scratch namespace, which is private to the transaction and never
// stores its pairs); emptied, and their entries dropped, when the transaction ends.
std::set<std::string>* covis_from_events = nullptr;
bool callbacks_registered = false;

SPIPlanPtr state_plan = nullptr;
SPIPlanPtr items_plan = nullptr;
SPIPlanPtr factors_plan = nullptr;
SPIPlanPtr index_plan = nullptr;
SPIPlanPtr popularity_plan = nullptr;
SPIPlanPtr covis_plan = nullptr;
SPIPlanPtr covis_changes_plan = nullptr;
SPIPlanPtr changed_plan = nullptr;
Oid namespace_types[4] = {UUIDOID, TEXTOID, XID8OID, XID8OID};


// Fetches the cursor's rows in batches of `size` and hands each batch (SPI_tuptable) to
// `read_batch`, in a memory context reset between batches; true when the xid8 column
// `writer_column` (0: none) of some row names the current transaction.
template <typename ReadBatch>
bool read_batches(Portal cursor, long size, int writer_column, ReadBatch&& read_batch) {
    bool own_rows = false;
    FullTransactionId own = GetTopFullTransactionIdIfAny();
    MemoryContext rows_context = AllocSetContextCreate(CurrentMemoryContext, "recsys catalogue rows", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        SPI_cursor_fetch(cursor, true, size);
        if (SPI_processed == 0) break;
        MemoryContext caller = MemoryContextSwitchTo(rows_context);
        for (uint64 r = 0; writer_column > 0 && r < SPI_processed; ++r) {
            bool isnull;
            uint64 writer = DatumGetUInt64(column(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, writer_column, &isnull));
            if (FullTransactionIdIsValid(own) && writer == U64FromFullTransactionId(own)) own_rows = true;
        }
        read_batch(SPI_tuptable->vals, SPI_tuptable->tupdesc, SPI_processed);
        MemoryContextSwitchTo(caller);
        MemoryContextReset(rows_context);
        SPI_freetuptable(SPI_tuptable);
    }
    MemoryContextDelete(rows_context);
    return own_rows;
}

// Reads the items the cursor returns (item_id, available, price, created_at, brand, category,
// tags, embedding, changed_xid) into the catalogue; true when one was written by the current
// transaction.
bool load_items(recsys::Catalog* catalog, Portal cursor) {
    return read_batches(cursor, 2000, 9, [catalog](HeapTuple* rows, TupleDesc desc, uint64 n) {
        for (uint64 r = 0; r < n; ++r) {
            HeapTuple row = rows[r];
            bool isnull;
            const char* id = text_column(row, desc, 1);
            bool available = DatumGetBool(column(row, desc, 2, &isnull)) && !isnull;
            Datum price_datum = column(row, desc, 3, &isnull);
            double price = isnull ? NAN : DatumGetFloat8(price_datum);
            Datum created_datum = column(row, desc, 4, &isnull);
            double created = isnull ? NAN : DatumGetFloat8(created_datum);
            const char* brand = text_column(row, desc, 5);
            const char* category = text_column(row, desc, 6);
            Datum *tag_values, *vector_values;
            bool *tag_nulls, *vector_nulls;
            int tag_count, vector_count;
            array_column(row, desc, 7, TEXTOID, &tag_values, &tag_nulls, &tag_count);
            array_column(row, desc, 8, FLOAT4OID, &vector_values, &vector_nulls, &vector_count);
            const char** tags = static_cast<const char**>(palloc(sizeof(char*) * (tag_count + 1)));
            for (int t = 0; t < tag_count; ++t) tags[t] = tag_nulls[t] ? "" : TextDatumGetCString(tag_values[t]);
            float* vector = static_cast<float*>(palloc(sizeof(float) * (vector_count + 1)));
            for (int d = 0; d < vector_count; ++d) vector[d] = DatumGetFloat4(vector_values[d]);
            recsys_pg::core_call([&] {
                recsys::CatalogRecord record;
                record.item_id = id;
                record.available = available;
                record.price = price;
                record.created_at = created;
                record.brand = brand;
                record.category = category;
                for (int t = 0; t < tag_count; ++t)
                    if (tags[t][0] != '\0') record.tags.emplace_back(tags[t]);
                record.embedding.assign(vector, vector + vector_count);
                catalog->upsert(record);
            });
        }
    });
}

// Reads the popularity rows the cursor returns (item_id, type, log2_score, changed_xid) into
// the catalogue; true when one was written by the current transaction.
bool load_popularity(recsys::Catalog* catalog, Portal cursor) {
    return read_batches(cursor, 10000, 4, [catalog](HeapTuple* rows, TupleDesc desc, uint64 n) {
        const char** ids = static_cast<const char**>(palloc(sizeof(char*) * n));
        int* types = static_cast<int*>(palloc(sizeof(int) * n));
        double* scores = static_cast<double*>(palloc(sizeof(double) * n));
        for (uint64 r = 0; r < n; ++r) {
            bool isnull;
            ids[r] = text_column(rows[r], desc, 1);
            types[r] = DatumGetInt32(column(rows[r], desc, 2, &isnull));
            scores[r] = DatumGetFloat8(column(rows[r], desc, 3, &isnull));
        }
        recsys_pg::core_call([&] {
            for (uint64 r = 0; r < n; ++r) catalog->set_popularity(ids[r], types[r], scores[r]);
        });
    });
}

// Pair lists being read by refresh_covis, by item; heap-allocated once and cleared before use
// (an error while reading leaves it for the next use to clear).
std::map<std::string, std::vector<std::pair<std::string, int64_t>>>* covis_lists = nullptr;

// Pair rows of a batch (item, neighbour, pairs) as palloc'd arrays; a NULL neighbour (an item
// whose pairs are all gone) reads as nullptr, NULL pairs as 0.
struct PairRows {
    const char** items;
    const char** neighbours;
    int64* pairs;
};

PairRows pair_rows(HeapTuple* rows, TupleDesc desc, uint64 n) {
    PairRows p{static_cast<const char**>(palloc(sizeof(char*) * n)), static_cast<const char**>(palloc(sizeof(char*) * n)),
               static_cast<int64*>(palloc(sizeof(int64) * n))};
    for (uint64 r = 0; r < n; ++r) {
        bool isnull;
        p.items[r] = text_column(rows[r], desc, 1);
        Datum neighbour = column(rows[r], desc, 2, &isnull);
        p.neighbours[r] = isnull ? nullptr : TextDatumGetCString(neighbour);
        Datum count = column(rows[r], desc, 3, &isnull);
        p.pairs[r] = isnull ? 0 : DatumGetInt64(count);
    }
    return p;
}

// Brings the co-visitation lists up to date (args: org, namespace, watermark, own xid to skip):
// every pair on a whole load; otherwise the complete pair lists of the items stamped in
// covis_changes since the watermark replace theirs. True when rows of the current transaction
// were read.
bool refresh_covis(recsys::CoVisitation* covis, Datum* args, bool whole) {
    if (whole) {
        Portal cursor = SPI_cursor_open(
            nullptr,
            prepared(&covis_plan, "SELECT item_a, item_b, pairs FROM recsys.covis WHERE org_id = $1 AND namespace = $2",
                     2, namespace_types),
            args, nullptr, true);
        read_batches(cursor, 10000, 0, [covis](HeapTuple* rows, TupleDesc desc, uint64 n) {
            PairRows p = pair_rows(rows, desc, n);  // no NULLs in recsys.covis
            recsys_pg::core_call([&] {
                for (uint64 r = 0; r < n; ++r) covis->add_pair(p.items[r], p.neighbours[r], p.pairs[r]);
            });
        });
        SPI_cursor_close(cursor);
        recsys_pg::core_call([covis] { covis->finish_load(); });
        // The pairs just read include the current transaction's when it stamped any item.
        FullTransactionId own = GetTopFullTransactionIdIfAny();
        if (!FullTransactionIdIsValid(own)) return false;
        Datum own_args[3] = {args[0], args[1], UInt64GetDatum(U64FromFullTransactionId(own))};
        int rc = SPI_execute_with_args(
            "SELECT 1 FROM recsys.covis_changes WHERE org_id = $1 AND namespace = $2 AND changed_xid = $3 LIMIT 1",
            3, namespace_types, own_args, nullptr, true, 0);
        if (rc != SPI_OK_SELECT) elog(ERROR, "reading co-visitation changes failed: %s", SPI_result_code_string(rc));
        return SPI_processed > 0;
    }
    recsys_pg::core_call([] {
        if (covis_lists == nullptr) covis_lists = new std::map<std::string, std::vector<std::pair<std::string, int64_t>>>();
        covis_lists->clear();
    });
    Portal cursor = SPI_cursor_open(
        nullptr,
        prepared(&covis_changes_plan,
                 "SELECT c.item_id, x.neighbour, x.pairs, c.changed_xid "
                 "  FROM recsys.covis_changes c "
                 "  LEFT JOIN LATERAL (SELECT v.item_b AS neighbour, v.pairs FROM recsys.covis v "
                 "                      WHERE v.org_id = c.org_id AND v.namespace = c.namespace AND v.item_a = c.item_id "
                 "                     UNION ALL "
                 "                     SELECT v.item_a, v.pairs FROM recsys.covis v "
                 "                      WHERE v.org_id = c.org_id AND v.namespace = c.namespace AND v.item_b = c.item_id) x "
                 "    ON true "
                 " WHERE c.org_id = $1 AND c.namespace = $2 AND c.changed_xid >= $3 AND c.changed_xid <> $4",
                 4, namespace_types),
        args, nullptr, true);
    bool own_rows = read_batches(cursor, 10000, 4, [](HeapTuple* rows, TupleDesc desc, uint64 n) {
        PairRows p = pair_rows(rows, desc, n);
        recsys_pg::core_call([&] {
            for (uint64 r = 0; r < n; ++r) {
                auto& list = (*covis_lists)[p.items[r]];  // an item without pairs gets an empty list
                if (p.neighbours[r] != nullptr) list.emplace_back(p.neighbours[r], p.pairs[r]);
            }
        });
    });
    SPI_cursor_close(cursor);
    recsys_pg::core_call([covis] {
        for (const auto& item : *covis_lists) covis->replace(item.first, item.second);
        covis_lists->clear();
    });
    return own_rows;
}

// Replaces the catalogue's ALS item factors with the namespace's stored ones.
void load_factors(recsys::Catalog* catalog, Datum* args) {
    int rc = SPI_execute_plan(prepared(&factors_plan,
                                       "SELECT item_id, factors FROM recsys.item_factors "
                                       "WHERE org_id = $1 AND namespace = $2",
                                       2, namespace_types),
                              args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading item factors failed: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    const char** ids = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    float** values = static_cast<float**>(palloc(sizeof(float*) * (n + 1)));
    int* counts = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    for (uint64 r = 0; r < n; ++r) {
        Datum* elements;
        bool* element_nulls;
        ids[r] = text_column(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
        array_column(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, FLOAT4OID, &elements, &element_nulls, &counts[r]);
        values[r] = static_cast<float*>(palloc(sizeof(float) * (counts[r] + 1)));
        for (int d = 0; d < counts[r]; ++d) values[r][d] = DatumGetFloat4(elements[d]);
    }
    recsys_pg::core_call([&] {
        std::vector<std::pair<std::string, std::vector<float>>> factors;
        factors.reserve(n);
        for (uint64 r = 0; r < n; ++r) factors.emplace_back(ids[r], std::vector<float>(values[r], values[r] + counts[r]));
        catalog->set_factors(n == 0 ? 0 : static_cast<size_t>(counts[0]), factors);
    });
}

// Replaces the catalogue's IVF index with the namespace's stored one (or drops it).
void load_index(recsys::Catalog* catalog, Datum* args) {
    int rc = SPI_execute_plan(prepared(&index_plan,
                                       "SELECT centroids, probes FROM recsys.embedding_indexes "
                                       "WHERE org_id = $1 AND namespace = $2",
                                       2, namespace_types),
                              args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading the embedding index failed: %s", SPI_result_code_string(rc));
    Datum* elements = nullptr;
    bool* element_nulls = nullptr;
    int count = 0;
    int probes = 1;
    if (SPI_processed == 1) {
        bool isnull;
        array_column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, FLOAT4OID, &elements, &element_nulls, &count);
        probes = DatumGetInt32(column(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    }
    float* centroids = static_cast<float*>(palloc(sizeof(float) * (count + 1)));
    for (int i = 0; i < count; ++i) centroids[i] = DatumGetFloat4(elements[i]);
    recsys_pg::core_call([&] {
        catalog->set_index(std::vector<float>(centroids, centroids + count), static_cast<size_t>(probes));
    });
}

// Drops the catalogues that hold rows of an aborted transaction or subtransaction (the rows of
// the transaction itself may go with a subtransaction: over-eager, never stale); clears the mark.
void drop_tainted(bool aborted) {
    if (entries == nullptr) return;
    for (auto& named : *entries) {
        Entry& e = named.second;
        if (e.tainted && aborted) e.valid = false;
        e.tainted = false;
    }
}

// At the end of a transaction: also forgets the namespaces whose co-visitation came from events.
void on_transaction_end(bool aborted) {
    if (entries != nullptr && covis_from_events != nullptr) {
        for (const std::string& key : *covis_from_events) {
            auto found = entries->find(key);
            if (found != entries->end()) found->second.valid = false;
        }
        covis_from_events->clear();
    }
    drop_tainted(aborted);
}

void xact_callback(XactEvent event, void*) {
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
        on_transaction_end(true);
    else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
        on_transaction_end(false);
}

void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
    if (event == SUBXACT_EVENT_ABORT_SUB) drop_tainted(true);
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_note_catalogue_write);
PG_FUNCTION_INFO_V1(recsys_catalog_covis_from_events);

// _catalog_covis_from_events(org, ns): until the transaction ends, the namespace's cached
// co-visitation is counted from its events instead of read from recsys.covis.
Datum recsys_catalog_covis_from_events(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 2);
    recsys_pg::take_covis_from_events(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    PG_RETURN_VOID();
}

// AFTER INSERT/UPDATE statement trigger on items and item_popularity: counts the write.
Datum recsys_note_catalogue_write(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "recsys_note_catalogue_write must be called as a trigger");
    ++catalogue_writes;
    return PointerGetDatum(nullptr);
}

}  // extern "C"

namespace {

// The key of a namespace's entry: "org/namespace".
char* entry_key(Datum org, const char* ns) {
    return psprintf("%s/%s", DatumGetCString(DirectFunctionCall1(uuid_out, org)), ns);
}

}  // namespace

namespace recsys_pg {

void take_covis_from_events(Datum org, const char* ns) {
    char* key = entry_key(org, ns);
    core_call([&] {
        if (covis_from_events == nullptr) covis_from_events = new std::set<std::string>();
        covis_from_events->insert(key);
        if (entries == nullptr) return;
        auto found = entries->find(key);
        if (found != entries->end()) found->second.valid = false;
    });
}

void register_catalog_callbacks() {
    if (callbacks_registered) return;
    RegisterXactCallback(xact_callback, nullptr);
    RegisterSubXactCallback(subxact_callback, nullptr);
    callbacks_registered = true;
}

namespace {

// current_catalog without the plan_cache_mode guard.
const recsys::Catalog& load_current_catalog(Datum org, const char* ns) {
    char* key = entry_key(org, ns);
    Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : nullptr;
    Entry* known = nullptr;
    core_call([&] {
        if (entries == nullptr) return;
        auto found = entries->find(key);
        if (found != entries->end()) known = &found->second;
    });
    if (known != nullptr && known->valid && known->own_writes == catalogue_writes && same_snapshot(*known, snapshot))
        return *known->catalog;

    Datum args[4] = {org, CStringGetTextDatum(ns), 0, 0};
    int rc = SPI_execute_plan(
        prepared(&state_plan,
                 "SELECT n.catalog_epoch, coalesce(n.embedding_dim, 0), pg_snapshot_xmin(pg_current_snapshot()), "
                 "       coalesce((SELECT m.trained_at FROM recsys.factor_models m "
                 "                  WHERE m.org_id = n.org_id AND m.namespace = n.namespace), '-infinity'), "
                 "       coalesce((SELECT x.built_at FROM recsys.embedding_indexes x "
                 "                  WHERE x.org_id = n.org_id AND x.namespace = n.namespace), '-infinity'), "
                 "       ARRAY(SELECT t.type_id::int4 FROM recsys.event_types t "
                 "              WHERE t.org_id = n.org_id AND t.namespace = n.namespace ORDER BY t.type_id), "
                 "       ARRAY(SELECT t.half_life_days FROM recsys.event_types t "
                 "              WHERE t.org_id = n.org_id AND t.namespace = n.namespace ORDER BY t.type_id) "
                 "  FROM recsys.namespaces n WHERE n.org_id = $1 AND n.namespace = $2",
                 2, namespace_types),
        args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading the namespace state failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("namespace \"%s\" does not exist", ns)));
    bool isnull;
    HeapTuple state = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    int64 epoch = DatumGetInt64(column(state, desc, 1, &isnull));
    int32 dim = DatumGetInt32(column(state, desc, 2, &isnull));
    uint64 xmin = DatumGetUInt64(column(state, desc, 3, &isnull));
    int64 model_version = DatumGetInt64(column(state, desc, 4, &isnull));
    int64 index_version = DatumGetInt64(column(state, desc, 5, &isnull));
    Datum *type_values, *half_life_values;
    bool *type_nulls, *half_life_nulls;
    int type_count, half_life_count;
    array_column(state, desc, 6, INT4OID, &type_values, &type_nulls, &type_count);
    array_column(state, desc, 7, FLOAT8OID, &half_life_values, &half_life_nulls, &half_life_count);

    Entry* entry = nullptr;
    bool full = false;
    core_call([&] {
        if (entries == nullptr) entries = new std::map<std::string, Entry>();
        entry = &(*entries)[key];
        full = !entry->valid || entry->epoch != epoch || entry->dim != dim;
        if (full) {
            entry->valid = false;
            entry->catalog.reset();
            entry->catalog.reset(new recsys::Catalog(static_cast<size_t>(dim)));
            entry->model_version = entry->index_version = -1;
            entry->watermark = 0;
            entry->tainted = false;
            entry->own_xid = 0;  // a new catalogue has read no row yet
        }
    });
    entry->valid = false;
    // The transaction's own rows were read at the previous call and it has written none since:
    // skip them (xid 0 matches no row).
    FullTransactionId own = GetTopFullTransactionIdIfAny();
    uint64 own_xid = FullTransactionIdIsValid(own) ? U64FromFullTransactionId(own) : 0;
    bool own_rows_current = own_xid != 0 && entry->own_xid == own_xid && entry->own_writes == catalogue_writes;
    uint64 writes = catalogue_writes;
    args[2] = UInt64GetDatum(entry->watermark);
    args[3] = UInt64GetDatum(own_rows_current ? own_xid : 0);
    // Which of the tables may have rows to read: the newest change stamp of each (an index probe;
    // one generic plan) against the watermark spares planning the delta queries when nothing
    // changed. (The transaction's own rows count as a change here; the delta query skips them.)
    bool items_changed = true, popularity_changed = true, covis_changed = true;
    if (!full) {
        rc = SPI_execute_plan(
            prepared(&changed_plan,
                     "SELECT (SELECT x.changed_xid FROM recsys.items x WHERE x.org_id = $1 AND x.namespace = $2 "
                     "         ORDER BY x.changed_xid DESC LIMIT 1), "
                     "       (SELECT x.changed_xid FROM recsys.item_popularity x WHERE x.org_id = $1 AND x.namespace = $2 "
                     "         ORDER BY x.changed_xid DESC LIMIT 1), "
                     "       (SELECT x.changed_xid FROM recsys.covis_changes x WHERE x.org_id = $1 AND x.namespace = $2 "
                     "         ORDER BY x.changed_xid DESC LIMIT 1)",
                     2, namespace_types, CURSOR_OPT_GENERIC_PLAN),
            args, nullptr, true, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "reading catalogue changes failed: %s", SPI_result_code_string(rc));
        HeapTuple newest = SPI_tuptable->vals[0];
        auto changed_since = [&](int col) {
            Datum stamp = column(newest, SPI_tuptable->tupdesc, col, &isnull);
            return !isnull && DatumGetUInt64(stamp) >= entry->watermark;
        };
        items_changed = changed_since(1);
        popularity_changed = changed_since(2);
        covis_changed = changed_since(3);
    }
    Portal cursor;
    if (items_changed) {
        cursor = SPI_cursor_open(
            nullptr,
            prepared(&items_plan,
                     "SELECT item_id, available, price, extract(epoch FROM created_at)::float8, brand, category, tags, "
                     "       embedding, changed_xid "
                     "  FROM recsys.items WHERE org_id = $1 AND namespace = $2 AND changed_xid >= $3 AND changed_xid <> $4",
                     4, namespace_types),
            args, nullptr, true);
        if (load_items(entry->catalog.get(), cursor)) entry->tainted = true;
        SPI_cursor_close(cursor);
    }
    if (popularity_changed) {
        cursor = SPI_cursor_open(
            nullptr,
            prepared(&popularity_plan,
                     "SELECT item_id, type::int4, log2_score, changed_xid FROM recsys.item_popularity "
                     " WHERE org_id = $1 AND namespace = $2 AND changed_xid >= $3 AND changed_xid <> $4",
                     4, namespace_types),
            args, nullptr, true);
        if (load_popularity(entry->catalog.get(), cursor)) entry->tainted = true;
        SPI_cursor_close(cursor);
    }
    bool from_events = false;
    core_call([&] { from_events = covis_from_events != nullptr && covis_from_events->count(key) > 0; });
    if (!from_events && covis_changed) {
        if (refresh_covis(&entry->catalog->covisitation(), args, full)) entry->tainted = true;
    } else if (full) {
        NamespacePairs counted = count_namespace_pairs(org, args[1], CurrentMemoryContext);
        recsys::CoVisitation* covis = &entry->catalog->covisitation();
        core_call([&] {
            std::vector<std::string> ids(counted.item_ids, counted.item_ids + counted.item_count);
            covis->load_counts(ids, *counted.pairs);
        });
        release_namespace_pairs();
        entry->tainted = true;  // events of this transaction
    }
    core_call([&] {
        std::vector<std::pair<int, double>> half_lives;
        for (int t = 0; t < type_count && t < half_life_count; ++t)
            half_lives.emplace_back(DatumGetInt32(type_values[t]), DatumGetFloat8(half_life_values[t]));
        entry->catalog->set_half_lives(half_lives);
    });
    bool grown = full || entry->model_version != model_version || entry->index_version != index_version;
    if (entry->model_version != model_version) load_factors(entry->catalog.get(), args);
    if (entry->index_version != index_version) load_index(entry->catalog.get(), args);
    // The catalogue's memory was (re)allocated: huge pages make serving's scattered reads cheaper.
    if (grown && catalog_huge_pages()) core_call([] { recsys::back_with_huge_pages(huge_pages_from); });
    entry->epoch = epoch;
    entry->dim = dim;
    entry->watermark = xmin;
    entry->model_version = model_version;
    entry->index_version = index_version;
    entry->own_xid = own_xid;
    entry->own_writes = writes;
    core_call([&] {
        entry->snapshot_xmin = snapshot != nullptr ? snapshot->xmin : InvalidTransactionId;
        entry->snapshot_xmax = snapshot != nullptr ? snapshot->xmax : InvalidTransactionId;
        entry->snapshot_cid = snapshot != nullptr ? snapshot->curcid : InvalidCommandId;
        entry->snapshot_xip.assign(snapshot != nullptr ? snapshot->xip : nullptr,
                                   snapshot != nullptr ? snapshot->xip + snapshot->xcnt : nullptr);
    });
    entry->valid = true;
    return *entry->catalog;
}

}  // namespace

const recsys::Catalog& current_catalog(Datum org, const char* ns) {
    if (plan_cache_mode == PLAN_CACHE_MODE_AUTO) return load_current_catalog(org, ns);
    // A calling function forced generic (or custom) plans for its own statements; the cache's
    // delta queries keep the plan cache's own choice (a generic plan of them reads whole tables).
    // An error unwinds the GUC nest level with the (sub)transaction.
    int nest = NewGUCNestLevel();
    (void) set_config_option("plan_cache_mode", "auto", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    const recsys::Catalog& catalog = load_current_catalog(org, ns);
    AtEOXact_GUC(true, nest);
    return catalog;
}

}  // namespace recsys_pg
