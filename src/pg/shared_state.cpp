// State shared by every backend, in shared memory:
// - counters of decisions that could not be logged (read-only transaction, hot standby), so
//   recsys.metrics can read them even on a standby, where nothing can be written to a table;
//   they count from server start, like every Prometheus counter;
// - the progress of running factor trainings (recsys.training_progress), visible from other
//   sessions while the training transaction is still open.
// With recsys in shared_preload_libraries the space is reserved at start-up; otherwise the
// few hundred bytes come from the spare shared memory the server keeps for add-ins.
#include "pg/shared_state.hpp"

#include <cstdio>

#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace recsys_pg {
namespace {

constexpr int progress_slots = 8;

// One running training; pid 0 marks a free slot.
struct TrainingSlot {
    int pid;
    char org[40];
    char ns[72];
    int iteration;
    int iterations;
    double loss;
    TimestampTz started;
};

struct SharedState {
    pg_atomic_uint64 read_only;
    pg_atomic_uint64 standby;
    slock_t progress_lock;
    TrainingSlot slots[progress_slots];
};

SharedState* shared_state = nullptr;
shmem_request_hook_type previous_shmem_request_hook = nullptr;

// Reserves the shared state when the library is preloaded.
void request_shared_space() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

// The shared state, created by the first backend that needs it.
SharedState* attach_shared_state() {
    if (shared_state == nullptr) {
        bool found = false;
        LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
        SharedState* shared = static_cast<SharedState*>(ShmemInitStruct("recsys shared state",
                                                                          sizeof(SharedState), &found));
        if (!found) {
            pg_atomic_init_u64(&shared->read_only, 0);
            pg_atomic_init_u64(&shared->standby, 0);
            SpinLockInit(&shared->progress_lock);
            for (TrainingSlot& slot : shared->slots) slot.pid = 0;
        }
        LWLockRelease(AddinShmemInitLock);
        shared_state = shared;
    }
    return shared_state;
}

}  // namespace

void request_shared_state() {
    if (!process_shared_preload_libraries_in_progress) return;
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_space;
}

int progress_begin(const char* org, const char* ns, int iterations) {
    SharedState* c = attach_shared_state();
    int claimed = -1;
    SpinLockAcquire(&c->progress_lock);
    for (int i = 0; i < progress_slots && claimed < 0; ++i) {
        TrainingSlot& slot = c->slots[i];
        if (slot.pid != 0 && slot.pid != MyProcPid) continue;
        slot.pid = MyProcPid;
        snprintf(slot.org, sizeof(slot.org), "%s", org);
        snprintf(slot.ns, sizeof(slot.ns), "%s", ns);
        slot.iteration = 0;
        slot.iterations = iterations;
        slot.loss = 0.0;
        slot.started = GetCurrentTimestamp();
        claimed = i;
    }
    SpinLockRelease(&c->progress_lock);
    return claimed;
}

void progress_update(int slot, int iteration, double loss) {
    if (slot < 0) return;
    SharedState* c = attach_shared_state();
    SpinLockAcquire(&c->progress_lock);
    c->slots[slot].iteration = iteration;
    c->slots[slot].loss = loss;
    SpinLockRelease(&c->progress_lock);
}

void progress_end(int slot) {
    if (slot < 0) return;
    SharedState* c = attach_shared_state();
    SpinLockAcquire(&c->progress_lock);
    c->slots[slot].pid = 0;
    SpinLockRelease(&c->progress_lock);
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_count_skipped_decision);
PG_FUNCTION_INFO_V1(recsys_skipped_decisions);

// _count_skipped_decision(standby boolean): one more decision served without being logged.
Datum recsys_count_skipped_decision(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 1);
    recsys_pg::SharedState* c = recsys_pg::attach_shared_state();
    pg_atomic_fetch_add_u64(PG_GETARG_BOOL(0) ? &c->standby : &c->read_only, 1);
    PG_RETURN_VOID();
}

// _skipped_decisions() -> (read_only bigint, standby bigint) since server start.
Datum recsys_skipped_decisions(PG_FUNCTION_ARGS) {
    recsys_pg::SharedState* c = recsys_pg::attach_shared_state();
    TupleDesc desc = recsys_pg::result_row_type(fcinfo, 2);
    Datum values[2] = {Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c->read_only))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c->standby)))};
    bool nulls[2] = {false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

PG_FUNCTION_INFO_V1(recsys_training_progress);

// _training_progress() -> setof (pid, org_id, namespace, iteration, iterations, loss, started_at).
Datum recsys_training_progress(PG_FUNCTION_ARGS) {
    recsys_pg::SharedState* c = recsys_pg::attach_shared_state();
    recsys_pg::TrainingSlot copy[recsys_pg::progress_slots];
    SpinLockAcquire(&c->progress_lock);
    for (int i = 0; i < recsys_pg::progress_slots; ++i) copy[i] = c->slots[i];
    SpinLockRelease(&c->progress_lock);
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 7);
    for (const recsys_pg::TrainingSlot& slot : copy) {
        if (slot.pid == 0) continue;
        Datum values[7] = {Int32GetDatum(slot.pid), CStringGetTextDatum(slot.org), CStringGetTextDatum(slot.ns),
                           Int32GetDatum(slot.iteration), Int32GetDatum(slot.iterations), Float8GetDatum(slot.loss),
                           TimestampTzGetDatum(slot.started)};
        bool nulls[7] = {false, false, false, false, false, slot.iteration == 0, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"
