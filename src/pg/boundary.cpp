// Mapping of core exceptions to SQLSTATEs, and a probe that proves the mapping from SQL.
#include "pg/boundary.hpp"

#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
}

namespace recsys_pg {
namespace {

void copy_text(char* dest, size_t size, const char* text) {
    snprintf(dest, size, "%s", text ? text : "");
}

int sqlstate_of(recsys::ErrorKind kind) {
    switch (kind) {
        case recsys::ErrorKind::invalid_parameter:
            return ERRCODE_INVALID_PARAMETER_VALUE;
        case recsys::ErrorKind::invalid_text:
            return ERRCODE_INVALID_TEXT_REPRESENTATION;
        case recsys::ErrorKind::cancelled:
            return ERRCODE_QUERY_CANCELED;
        case recsys::ErrorKind::internal:
            break;
    }
    return ERRCODE_INTERNAL_ERROR;
}

}  // namespace

void capture_current_exception(CaughtError* out) noexcept {
    out->caught = true;
    out->cancelled = false;
    out->detail[0] = '\0';
    out->hint[0] = '\0';
    try {
        throw;
    } catch (const recsys::Error& e) {
        out->sqlstate = sqlstate_of(e.kind());
        out->cancelled = e.kind() == recsys::ErrorKind::cancelled;
        copy_text(out->message, sizeof(out->message), e.what());
        copy_text(out->detail, sizeof(out->detail), e.detail().c_str());
        copy_text(out->hint, sizeof(out->hint), e.hint().c_str());
    } catch (const std::bad_alloc&) {
        out->sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(out->message, sizeof(out->message), "out of memory in recsys core");
    } catch (const std::exception& e) {
        out->sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(out->message, sizeof(out->message), "unexpected error in recsys core");
        copy_text(out->detail, sizeof(out->detail), e.what());
    } catch (...) {
        out->sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(out->message, sizeof(out->message), "unexpected non-standard exception in recsys core");
    }
}

void raise_caught(const CaughtError* error) {
    if (error->cancelled) CHECK_FOR_INTERRUPTS();
    ereport(ERROR, (errcode(error->sqlstate), errmsg("%s", error->message),
                    error->detail[0] ? errdetail("%s", error->detail) : 0,
                    error->hint[0] ? errhint("%s", error->hint) : 0));
    pg_unreachable();
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_boundary_probe);

// Throws a chosen kind of C++ exception inside core code, to prove the error boundary from SQL.
Datum recsys_boundary_probe(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 1);
    char* kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
    recsys_pg::core_call([&] {
        if (std::strcmp(kind, "invalid_parameter") == 0)
            throw recsys::Error(recsys::ErrorKind::invalid_parameter, "probe: invalid parameter",
                                "The probe threw recsys::Error.", "Nothing is wrong; this is a test.");
        if (std::strcmp(kind, "bad_alloc") == 0) throw std::bad_alloc();
        if (std::strcmp(kind, "runtime_error") == 0) throw std::runtime_error("probe: runtime error");
        if (std::strcmp(kind, "eigen_assert") == 0) {
            Eigen::VectorXd a(3), b(4);
            a.setZero();
            b.setZero();
            (void)a.dot(b);  // mismatched sizes: eigen_assert throws
        }
        if (std::strcmp(kind, "none") != 0) throw recsys::Error(recsys::ErrorKind::invalid_parameter, "probe: unknown kind");
    });
    PG_RETURN_TEXT_P(cstring_to_text("no exception"));
}

}  // extern "C"
