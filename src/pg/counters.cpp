// Counters of decisions that could not be logged (read-only transaction, hot standby), in
// shared memory so that every backend adds to the same numbers and recsys.metrics can read
// them even on a standby, where nothing can be written to a table. They count from server
// start, like every Prometheus counter. With recsys in shared_preload_libraries the space is
// reserved at start-up; otherwise the few bytes come from the spare shared memory the server
// keeps for add-ins.
#include "pg/counters.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
}

namespace recsys_pg {
namespace {

struct SkipCounters {
    pg_atomic_uint64 read_only;
    pg_atomic_uint64 standby;
};

SkipCounters* counters = nullptr;
shmem_request_hook_type previous_shmem_request_hook = nullptr;

// Reserves the counters' space when the library is preloaded.
void request_counters_space() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(SkipCounters)));
}

// The counters, created by the first backend that needs them.
SkipCounters* attach_counters() {
    if (counters == nullptr) {
        bool found = false;
        LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
        SkipCounters* shared = static_cast<SkipCounters*>(ShmemInitStruct("recsys skipped decisions",
                                                                          sizeof(SkipCounters), &found));
        if (!found) {
            pg_atomic_init_u64(&shared->read_only, 0);
            pg_atomic_init_u64(&shared->standby, 0);
        }
        LWLockRelease(AddinShmemInitLock);
        counters = shared;
    }
    return counters;
}

}  // namespace

void request_shared_counters() {
    if (!process_shared_preload_libraries_in_progress) return;
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_counters_space;
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_count_skipped_decision);
PG_FUNCTION_INFO_V1(recsys_skipped_decisions);

// _count_skipped_decision(standby boolean): one more decision served without being logged.
Datum recsys_count_skipped_decision(PG_FUNCTION_ARGS) {
    recsys_pg::SkipCounters* c = recsys_pg::attach_counters();
    pg_atomic_fetch_add_u64(PG_GETARG_BOOL(0) ? &c->standby : &c->read_only, 1);
    PG_RETURN_VOID();
}

// _skipped_decisions() -> (read_only bigint, standby bigint) since server start.
Datum recsys_skipped_decisions(PG_FUNCTION_ARGS) {
    recsys_pg::SkipCounters* c = recsys_pg::attach_counters();
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("_skipped_decisions must return a record")));
    Datum values[2] = {Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c->read_only))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c->standby)))};
    bool nulls[2] = {false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

}  // extern "C"
