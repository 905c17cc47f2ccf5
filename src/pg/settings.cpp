// Every recsys.* setting is defined here, with check hooks that explain rejections.
#include "pg/settings.hpp"

#include <cctype>
#include <climits>
#include <cstring>

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
}

namespace recsys_pg {
namespace {

char* org_id_setting = nullptr;
int max_batch_size_setting = 50000;
int bandit_seed_setting = 0;
int decision_retention_days_setting = 30;
int metrics_window_minutes_setting = 60;
int serving_threads_setting = serving_threads_auto;
bool catalog_huge_pages_setting = true;

const struct config_enum_entry serving_threads_options[] = {
    {"auto", serving_threads_auto, false}, {"1", 1, false}, {"2", 2, false}, {nullptr, 0, false}};

// True when `text` is a UUID in its canonical 8-4-4-4-12 hexadecimal form.
bool is_canonical_uuid(const char* text) {
    static const int dash_at[] = {8, 13, 18, 23};
    if (std::strlen(text) != 36) return false;
    for (int i = 0; i < 36; ++i) {
        bool dash = i == dash_at[0] || i == dash_at[1] || i == dash_at[2] || i == dash_at[3];
        if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
    }
    return true;
}

// recsys.org_id must be a UUID, and only members of recsys_admin may set it in a session.
bool check_org_id(char** newval, void** extra, GucSource source) {
    if (*newval == nullptr || (*newval)[0] == '\0') return true;
    if (!is_canonical_uuid(*newval)) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("recsys.org_id must be a UUID such as 00000000-0000-0000-0000-000000000001.");
        return false;
    }
    if (source >= PGC_S_INTERACTIVE && IsTransactionState()) {
        Oid admin = get_role_oid("recsys_admin", true);
        if (!OidIsValid(admin) || !has_privs_of_role(GetUserId(), admin)) {
            GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
            GUC_check_errmsg("permission denied to set recsys.org_id");
            GUC_check_errdetail("Only members of recsys_admin may choose the organisation with recsys.org_id.");
            GUC_check_errhint("Other roles get their organisation from their JWT claim or from recsys_map_role.");
            return false;
        }
    }
    return true;
}

}  // namespace

int bandit_seed() {
    return bandit_seed_setting;
}

int serving_threads() {
    return serving_threads_setting;
}

bool catalog_huge_pages() {
    return catalog_huge_pages_setting;
}

void define_settings() {
    DefineCustomStringVariable(
        "recsys.org_id", "Organisation that a recsys_admin session acts for.",
        "Only members of recsys_admin may set it; other callers get their organisation from the "
        "JWT claim org_id or from the role mapping.",
        &org_id_setting, "", PGC_USERSET, 0, check_org_id, nullptr, nullptr);

    DefineCustomIntVariable(
        "recsys.max_batch_size", "Largest number of elements accepted in one ingestion call.", nullptr,
        &max_batch_size_setting, 50000, 1, 10000000, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "recsys.bandit_seed", "Seed of the bandit's random numbers; 0 draws real randomness.",
        "With a seed, a session makes the same sequence of choices from the same statistics (for tests).",
        &bandit_seed_setting, 0, 0, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "recsys.decision_retention_days", "Days of decisions that recsys_maintain_decisions keeps.",
        "Daily partitions of recsys.rec_decisions that end more than this many days ago are dropped.",
        &decision_retention_days_setting, 30, 1, 36500, PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "recsys.metrics_window_minutes", "Window of logged decisions that recsys.metrics summarises.",
        "Decision, serving, rule, filter, coverage and latency metrics cover the decisions logged in "
        "the last this many minutes.",
        &metrics_window_minutes_setting, 60, 1, 10080, PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomEnumVariable(
        "recsys.serving_threads", "Threads one ranking request uses: 1, 2, or auto.",
        "With a second thread, the embedding and collaborative candidate sources and part of the "
        "candidates' scoring run on it; auto uses it when a core would otherwise be idle. The "
        "ranking is the same either way.",
        &serving_threads_setting, serving_threads_auto, serving_threads_options, PGC_USERSET, 0, nullptr, nullptr,
        nullptr);

    DefineCustomBoolVariable(
        "recsys.catalog_huge_pages", "Asks for transparent huge pages once a catalogue is loaded.",
        "After a backend loads a namespace's catalogue, its large private memory is advised (and "
        "collapsed) to transparent huge pages, which makes the scattered reads of serving cheaper. "
        "It has no effect where the kernel gives no transparent huge pages.",
        &catalog_huge_pages_setting, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    MarkGUCPrefixReserved("recsys");
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_max_batch_size);

// recsys.max_batch_size, read through the library so the setting is always defined.
Datum recsys_max_batch_size(PG_FUNCTION_ARGS) {
    PG_RETURN_INT32(recsys_pg::max_batch_size_setting);
}

PG_FUNCTION_INFO_V1(recsys_decision_retention_days);

// recsys.decision_retention_days, read through the library (see recsys_max_batch_size).
Datum recsys_decision_retention_days(PG_FUNCTION_ARGS) {
    PG_RETURN_INT32(recsys_pg::decision_retention_days_setting);
}

PG_FUNCTION_INFO_V1(recsys_metrics_window_minutes);

// recsys.metrics_window_minutes, read through the library (see recsys_max_batch_size).
Datum recsys_metrics_window_minutes(PG_FUNCTION_ARGS) {
    PG_RETURN_INT32(recsys_pg::metrics_window_minutes_setting);
}

}  // extern "C"
